"""A LLaMA-2-7B-shaped definition in plain nn modules: 32 layers, width 4096, MLP 11008, vocabulary 32000.

6,738,415,616 parameters (about 27 GB in float32). ParamLens builds it on the meta device, which gives every
shape, count and tie without allocating the weights: `paramlens check examples/llama_shaped.py`.
"""

import torch
from torch import nn

VOCAB, WIDTH, HIDDEN, LAYERS = 32000, 4096, 11008, 32


def decoder_layer(width, hidden):
    return nn.ModuleDict({
        "input_layernorm": nn.RMSNorm(width),
        "self_attn": nn.ModuleDict({
            "q_proj": nn.Linear(width, width, bias=False),
            "k_proj": nn.Linear(width, width, bias=False),
            "v_proj": nn.Linear(width, width, bias=False),
            "o_proj": nn.Linear(width, width, bias=False),
        }),
        "post_attention_layernorm": nn.RMSNorm(width),
        "mlp": nn.ModuleDict({
            "gate_proj": nn.Linear(width, hidden, bias=False),
            "up_proj": nn.Linear(width, hidden, bias=False),
            "down_proj": nn.Linear(hidden, width, bias=False),
        }),
    })


model = nn.ModuleDict({
    "embed_tokens": nn.Embedding(VOCAB, WIDTH),
    "layers": nn.ModuleList(decoder_layer(WIDTH, HIDDEN) for _ in range(LAYERS)),
    "norm": nn.RMSNorm(WIDTH),
    "lm_head": nn.Linear(WIDTH, VOCAB, bias=False),
})
total = sum(p.numel() for p in model.parameters())
print(f"{total:,} parameters")
