"""Model ensembling with torch.func, as in the PyTorch tutorial: stack the parameters of several copies of a model and
run all of them at once with vmap over functional_call."""
import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class SimpleMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


models = [SimpleMLP() for _ in range(4)]
params, buffers = stack_module_state(models)
print({name: tuple(p.shape) for name, p in params.items()})

base = copy.deepcopy(models[0]).to("meta")


def fmodel(params, buffers, x):
    return functional_call(base, (params, buffers), (x,))


minibatch = torch.randn(5, 8)
predictions = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
print(predictions.shape)
print(torch.allclose(predictions[1], models[1](minibatch), atol=1e-6))
