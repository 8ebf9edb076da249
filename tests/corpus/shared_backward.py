"""The seed's shared layer, trained for one step: the gradients of both positions end up in one `.grad`."""
import torch
from torch import nn

X = torch.rand(size=(2, 4))
shared = nn.Linear(8, 8)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                    shared, nn.ReLU(),
                    shared, nn.ReLU(),
                    nn.Linear(8, 1))
print(net[2].weight.grad == None)
loss = net(X).pow(2).sum()
loss.backward()
print(net[2].weight.grad == None)
print(net[2].weight.grad.shape)
print(torch.allclose(net[2].weight.grad, net[4].weight.grad))
print(net[2].weight.grad[0])
with torch.no_grad():
    for p in net.parameters():
        p -= 0.1 * p.grad
print(net[4].bias)
