"""Like torchvision.models.quantization.resnet: subclasses of classes from another module of the package."""

from typing import Any, List, Optional, Type, Union

import torch.nn as nn

from .._api import register_model
from ..resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["QuantizableResNet", "resnet18", "resnet50"]


class QuantizableBasicBlock(BasicBlock):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_add = nn.Identity()


class QuantizableBottleneck(Bottleneck):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_add_relu = nn.Identity()


class QuantizableResNet(ResNet):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quant = nn.Identity()
        self.dequant = nn.Identity()


def _resnet(block: Type[Union[QuantizableBasicBlock, QuantizableBottleneck]], layers: List[int],
            weights: Optional[str], quantize: bool, **kwargs: Any) -> QuantizableResNet:
    return QuantizableResNet(block, layers, **kwargs)


@register_model(name="quantized_resnet18")
def resnet18(*, weights: Optional[str] = None, progress: bool = True, quantize: bool = False,
             **kwargs: Any) -> QuantizableResNet:
    return _resnet(QuantizableBasicBlock, [2, 2, 2, 2], weights, quantize, **kwargs)


@register_model(name="quantized_resnet50")
def resnet50(*, weights: Optional[str] = None, progress: bool = True, quantize: bool = False,
             **kwargs: Any) -> QuantizableResNet:
    return _resnet(QuantizableBottleneck, [3, 4, 6, 3], weights, quantize, **kwargs)
