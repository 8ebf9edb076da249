"""A stem block written like torchvision's video ResNet stems: an nn.Sequential subclass whose layers are created as
arguments of super().__init__(), before the module itself is initialised."""
import torch
import torch.nn as nn


class BasicStem(nn.Sequential):
    """The default conv-batchnorm-relu stem."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )


class R2Plus1dStem(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(
            nn.Conv3d(3, 45, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(45),
            nn.ReLU(inplace=True),
            nn.Conv3d(45, 64, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )


stem = BasicStem()
r21d = R2Plus1dStem()
clip = torch.randn(1, 3, 4, 32, 32)
print(stem(clip).shape)
print(sum(p.numel() for p in r21d.parameters()))
