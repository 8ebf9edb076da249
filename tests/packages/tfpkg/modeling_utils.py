"""A PreTrainedModel with what transformers' has that ParamLens explains: `config_class`, `post_init()` applying
`_init_weights` to every module, and `tie_weights()` through `_tie_or_clone_weights`."""

import torch
from torch import nn


class PreTrainedModel(nn.Module):
    config_class = None
    base_model_prefix = ""
    _tied_weights_keys = []

    def __init__(self, config, *inputs, **kwargs):
        super().__init__()
        self.config = config

    def post_init(self):
        self.init_weights()

    def init_weights(self):
        self.apply(self._initialize_weights)
        self.tie_weights()

    def _initialize_weights(self, module):
        if getattr(module, "_is_initialized", False):
            return
        self._init_weights(module)
        module._is_initialized = True

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()

    def get_input_embeddings(self):
        base = getattr(self, self.base_model_prefix, self)
        return base.get_input_embeddings() if base is not self else None

    def get_output_embeddings(self):
        return None

    def tie_weights(self):
        if getattr(self.config, "tie_word_embeddings", True):
            output_embeddings = self.get_output_embeddings()
            if output_embeddings is not None:
                self._tie_or_clone_weights(output_embeddings, self.get_input_embeddings())

    def _tie_or_clone_weights(self, output_embeddings, input_embeddings):
        output_embeddings.weight = input_embeddings.weight
