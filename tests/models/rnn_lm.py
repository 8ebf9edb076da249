"""An RNN language model with optional tying of the decoder to the encoder, initialised uniformly."""
import torch
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self, ntoken=50, ninp=16, nhid=16, nlayers=2, dropout=0.2, tie_weights=True):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, tokens, hidden=None):
        emb = self.drop(self.encoder(tokens))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden


lm = RNNModel()
optimizer_groups = [
    {"params": [p for n, p in lm.named_parameters() if "bias" not in n], "weight_decay": 0.01},
    {"params": [p for n, p in lm.named_parameters() if "bias" in n], "weight_decay": 0.0},
]
logits, state = lm(torch.randint(0, 50, (5, 2)))
