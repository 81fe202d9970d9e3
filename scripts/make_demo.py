"""Regenerate numrnn's bundled demo example (``numrnn demo``) with torch.

The seed notebook's SimpleRNN -- RNN(3 -> 5, tanh, batch_first) + Linear(5 -> 2)
on the last step -- is trained briefly on a toy task (predict the running mean
of the first feature and the last value of the second), then saved:

    numrnn/data/simple_rnn.pt       torch.save(model.state_dict()), torch's zip format
    numrnn/data/simple_rnn_io.npz   'input' [4, 6, 3] and torch's 'output' [4, 2]

Run: python scripts/make_demo.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA = Path(__file__).resolve().parent.parent / "numrnn" / "data"


class SimpleRNN(nn.Module):
    def __init__(self, input_size: int = 3, hidden_size: int = 5, output_size: int = 2):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # [N, T, H]
        return self.fc(out[:, -1, :])  # [N, 2]


def toy_batch(n: int, steps: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, steps, 3)
    y = torch.stack([x[:, :, 0].mean(dim=1), x[:, -1, 1]], dim=1)
    return x, y


def main() -> None:
    torch.manual_seed(0)
    model = SimpleRNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        x, y = toy_batch(64)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    x, _ = toy_batch(4)
    with torch.no_grad():
        output = model(x)
    DATA.mkdir(exist_ok=True)
    torch.save(model.state_dict(), DATA / "simple_rnn.pt")
    np.savez(DATA / "simple_rnn_io.npz", input=x.numpy(), output=output.numpy())
    print(f"final training loss {loss.item():.4f}; wrote {DATA}")


if __name__ == "__main__":
    main()
