from ._api import get_model, list_models, register_model
from .resnet import *
from .tiny import *
from . import quantization
