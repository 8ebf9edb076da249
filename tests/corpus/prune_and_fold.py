"""Magnitude pruning of a small MLP, then making the pruning permanent, as the PyTorch pruning tutorial does."""
import torch
import torch.nn.utils.prune as prune
from torch import nn

model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))
layers = [module for module in model if isinstance(module, nn.Linear)]
drop = model[2]
modules = list(model)
modules.remove(drop)
print(len(modules), [type(m).__name__ for m in modules])

for layer in layers:
    prune.l1_unstructured(layer, name="weight", amount=0.5)
print([name for name, _ in model.named_parameters()])
print([name for name, _ in model.named_buffers()])
print(float((model[0].weight == 0).float().mean()))

for layer in layers:
    prune.remove(layer, "weight")
print([name for name, _ in model.named_parameters()])
print([name for name, _ in model.named_buffers()])
print(int((model[3].weight == 0).sum()))
