"""The two networks of CTGAN and the output activation, each a few lines.

Generator: residual blocks (linear, batch norm, ReLU, concatenated with their input) then a linear layer.
Discriminator: PacGAN, `pac` rows judged together, leaky ReLU and dropout, one score (WGAN critic).
The activation turns raw generator output into data: tanh for the scalars and Gumbel-softmax for every
one-hot block at once, through one padded (batch, blocks, max width) view instead of a loop over columns.
"""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int):
        super().__init__()
        layers, dim = [], in_dim
        for h in hidden:
            layers.append(Residual(dim, h))
            dim += h
        layers.append(nn.Linear(dim, out_dim))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class Discriminator(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        layers, dim = [], in_dim * pac
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            dim = h
        layers.append(nn.Linear(dim, 1))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x.reshape(-1, x.shape[1] * self.pac))


def gradient_penalty(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP: (||grad D(x)|| - 1)^2 on points between real and fake, one mix weight per pac group."""
    groups = real.shape[0] // disc.pac
    t = torch.rand(groups, 1, 1, generator=gen, device=real.device)
    t = t.expand(groups, disc.pac, real.shape[1]).reshape(-1, real.shape[1])
    mixed = (t * real + (1 - t) * fake).requires_grad_(True)
    score = disc(mixed)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    norm = grad.reshape(groups, -1).norm(2, dim=1)
    return weight * ((norm - 1) ** 2).mean()


class BlockLayout:
    """Index tensors that view the flat one-hot part of a row as (blocks, max width), padded."""

    def __init__(self, n_scalars: int, widths: list[int], device: torch.device):
        self.n_scalars = n_scalars
        self.n_blocks = len(widths)
        self.max_width = max(widths) if widths else 1
        flat, mask, unpad = [], [], []
        pos = n_scalars
        for b, w in enumerate(widths):
            flat += list(range(pos, pos + w)) + [0] * (self.max_width - w)
            mask += [True] * w + [False] * (self.max_width - w)
            unpad += [b * self.max_width + k for k in range(w)]
            pos += w
        self.gather = torch.tensor(flat, dtype=torch.long, device=device)
        self.pad = ~torch.tensor(mask, dtype=torch.bool, device=device).reshape(self.n_blocks, self.max_width)
        self.unpad = torch.tensor(unpad, dtype=torch.long, device=device)
        self.widths = torch.tensor(widths, dtype=torch.long, device=device)
        self.offsets = torch.tensor([n_scalars + sum(widths[:b]) for b in range(len(widths))],
                                    dtype=torch.long, device=device)

    def blocks(self, raw: torch.Tensor) -> torch.Tensor:
        """(batch, blocks, max width) logits with -inf in the padding."""
        x = raw.index_select(1, self.gather).reshape(raw.shape[0], self.n_blocks, self.max_width)
        return x.masked_fill(self.pad, float("-inf"))

    def activate(self, raw: torch.Tensor, gen: torch.Generator, tau: float = 0.2) -> torch.Tensor:
        """tanh on the scalars, Gumbel-softmax on each block; same layout as `raw`."""
        logits = self.blocks(raw)
        u = torch.rand(logits.shape, generator=gen, device=raw.device).clamp_(1e-10, 1 - 1e-7)
        soft = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=2)
        onehot = soft.reshape(raw.shape[0], -1).index_select(1, self.unpad)
        return torch.cat([torch.tanh(raw[:, : self.n_scalars]), onehot], dim=1)

    def expand(self, scalars: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Compact rows (scalars, per-block codes) to the generator's layout, one-hot blocks."""
        n = scalars.shape[0]
        out = torch.zeros(n, self.n_scalars + int(self.widths.sum()), device=scalars.device)
        out[:, : self.n_scalars] = scalars
        out.scatter_(1, codes.long() + self.offsets, 1.0)
        return out
