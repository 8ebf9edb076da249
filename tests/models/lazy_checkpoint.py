"""A model with a lazy layer, buffers (persistent and not), a plain tensor attribute, a save/load round trip
through the sandbox's private directory, freezing, and optimizer parameter groups."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.LazyLinear(8), nn.ReLU())
        self.head = nn.Linear(8, 2)
        self.register_buffer("scale", torch.ones(2))
        self.register_buffer("mask", torch.zeros(4), persistent=False)
        self.offset = torch.zeros(2)
        self.temperature = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale / self.temperature + self.offset


model = Net()
model(torch.rand(3, 5))
model.body.requires_grad_(False)
torch.save(model.state_dict(), "checkpoint.pt")
restored = torch.load("checkpoint.pt")
copy = Net()
copy(torch.rand(1, 5))
result = copy.load_state_dict(restored, strict=False)
optimizer = torch.optim.AdamW([
    {"params": [p for n, p in model.named_parameters() if p.requires_grad and "bias" not in n], "weight_decay": 0.1},
    {"params": [p for n, p in model.named_parameters() if p.requires_grad and "bias" in n], "weight_decay": 0.0},
], lr=1e-3)
