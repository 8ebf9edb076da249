"""Like transformers' auto classes: one entry per model type, a second registration is refused."""

MODEL_MAPPING = {}


def register(model_type, model_class):
    if model_type in MODEL_MAPPING:
        raise ValueError(f"'{model_type}' is already used by a model, pick another name.")
    MODEL_MAPPING[model_type] = model_class
