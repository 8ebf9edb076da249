"""A classifier training script in the style of pytorch/examples: options from argparse, data in a DataLoader, a
main() that trains for some epochs and evaluates."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.fc1 = nn.Linear(20, hidden)
        self.fc2 = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def train(model, loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data), target)
        loss.backward()
        optimizer.step()
        if batch_idx % 10 == 0:
            print(f"epoch {epoch} batch {batch_idx} loss {loss.item():.4f}")


def evaluate(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            correct += (model(data).argmax(dim=1) == target).sum().item()
    return correct / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser(description="toy classifier")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args()

    torch.manual_seed(7)
    features = torch.randn(600, 20)
    labels = (features[:, :3].sum(dim=1) > 0).long() + (features[:, 3] > 1).long()
    train_loader = DataLoader(TensorDataset(features[:500], labels[:500]), batch_size=10, shuffle=True)
    test_loader = DataLoader(TensorDataset(features[500:], labels[500:]), batch_size=50)

    model = Net(args.hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    for epoch in range(1, args.epochs + 1):
        train(model, train_loader, optimizer, epoch)
        print(f"epoch {epoch} accuracy {evaluate(model, test_loader):.3f}")
    print(model.fc1.weight.grad.abs().mean() > 0)
    return model


if __name__ == "__main__":
    main()
