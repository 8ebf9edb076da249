"""A tensor subclass that counts the torch functions called on it (as tracing and logging wrappers do), fed through a
layer: the output is a subclass instance too. ParamLens' probes read the values without the subclass ever seeing a
call of theirs, so the counts printed are the program's own."""
import torch
from torch import nn


class Counted(torch.Tensor):
    calls = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        Counted.calls += 1
        return super().__torch_function__(func, types, args, kwargs or {})


layer = nn.Linear(3, 2)
x = torch.randn(4, 3).as_subclass(Counted)
out = layer(x)
print(type(out).__name__, Counted.calls)
hidden = layer.weight.data + 0
print(Counted.calls)
