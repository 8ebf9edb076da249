"""A character-level language model trained the way nanoGPT's train.py does it: `while True:` with an iteration
counter, gradient accumulation, a cosine learning-rate schedule and a break at max_iters."""
import math

import torch
import torch.nn as nn
from torch.nn import functional as F

torch.manual_seed(1337)
text = "to be or not to be that is the question " * 20
chars = sorted(set(text))
stoi = {ch: i for i, ch in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
block_size, batch_size, vocab_size = 8, 4, len(chars)


class Bigram(nn.Module):
    def __init__(self, vocab_size, n_embd=16):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2

    def forward(self, idx, targets=None):
        logits = self.lm_head(self.wte(idx))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def get_batch():
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
    return x, y


def get_lr(it, warmup_iters=10, lr_decay_iters=600_000, learning_rate=1e-2, min_lr=1e-3):
    if it < warmup_iters:
        return learning_rate * it / warmup_iters
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (learning_rate - min_lr)


model = Bigram(vocab_size)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
max_iters, accumulation = 600_000, 2
iter_num = 0
X, Y = get_batch()
while True:
    lr = get_lr(iter_num)
    for group in optimizer.param_groups:
        group["lr"] = lr
    for micro_step in range(accumulation):
        logits, loss = model(X, Y)
        loss = loss / accumulation
        X, Y = get_batch()
        loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    iter_num += 1
    if iter_num > max_iters:
        break

print(iter_num, round(lr, 6))
print(model.lm_head.weight is model.wte.weight)
print(model.wte.weight.grad)
