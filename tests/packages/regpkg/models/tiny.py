"""A model file whose classes all build from defaults, and one helper class that needs arguments."""

import torch.nn as nn

from ._api import register_model

__all__ = ["TinyNet", "tiny"]


class TinyHead(nn.Module):
    def __init__(self, width: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, classes)


class TinyNet(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, width), nn.ReLU())
        self.head = TinyHead(width, 2)


@register_model()
def tiny(**kwargs) -> TinyNet:
    return TinyNet(**kwargs)
