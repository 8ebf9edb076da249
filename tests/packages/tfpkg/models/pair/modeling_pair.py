"""A model file that never imports its config: the package pairs `configuration_pair.py` with it by name."""

from torch import nn


class PairModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(config.width, config.width) for _ in range(config.depth)])
