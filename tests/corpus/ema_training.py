"""A regression model trained with Adam, with an exponential moving average (EMA) of its weights, as used for
evaluation in many training scripts."""
import copy

import torch
from torch import nn

torch.manual_seed(1)
inputs = torch.randn(64, 3)
targets = inputs @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3

model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
ema = copy.deepcopy(model)
for p in ema.parameters():
    p.requires_grad_(False)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
decay = 0.9

for step in range(10_000):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for ema_p, p in zip(ema.parameters(), model.parameters()):
            ema_p.mul_(decay).add_(p, alpha=1 - decay)

print(round(loss.item(), 4))
print(round(float(ema[0].weight.mean()), 4))
print(torch.allclose(ema[2].bias, model[2].bias))
ema[2].bias.lerp_(model[2].bias, 0.5)
print(ema[2].bias)
