"""A deep residual MLP whose blocks are built in a loop (cheap, so it runs in full) and a short warm-up loop."""
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc(self.norm(x))


class DeepMLP(nn.Module):
    def __init__(self, width=24, depth=12):
        super().__init__()
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(Block(width))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


model = DeepMLP()
print(len(model.blocks), sum(p.numel() for p in model.parameters()))
x = torch.randn(4, 24)
for _ in range(3):
    out = model(x)
print(out.shape)
