"""A registry of model builders that rejects a second entry under one name, like torchvision.models._api."""

from typing import Callable, Dict, List, Optional

BUILTIN_MODELS: Dict[str, Callable] = {}


def register_model(name: Optional[str] = None) -> Callable:
    def wrapper(fn: Callable) -> Callable:
        key = name if name is not None else fn.__name__
        if key in BUILTIN_MODELS:
            raise ValueError(f"An entry is already registered under the name '{key}'.")
        BUILTIN_MODELS[key] = fn
        return fn

    return wrapper


def list_models() -> List[str]:
    return sorted(BUILTIN_MODELS)


def get_model(name: str, **config):
    return BUILTIN_MODELS[name](**config)
