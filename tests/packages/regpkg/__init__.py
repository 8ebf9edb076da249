"""A torchvision-shaped test package: importing it imports every model file (see tests/packages/README.md)."""

from . import models

__version__ = "0.1"
