"""Pair tables: the generator is taught the table's two-way counts directly.

Under differential privacy the critic learns from noisy, clipped gradients over few steps, and on a small table it
teaches the generator little about which values go together (BENCHMARKS.md, "Differential privacy against
smartnoise"). The two-way counts of every pair of blocks (category blocks, and numeric columns' mixture modes) are
a cheaper way to say it: two Gaussian releases (synth.dp, stage 3) give them all, and the generator is charged
for how far the pair tables of its own rows are from them. What the generator learns from released counts is
post-processing: it costs no more privacy.

A release of many tables on few rows is noisy, so each table is shrunk towards the product of its two margins by
how much of it stands above the noise (positive-part James-Stein): a table that is mostly noise keeps little
weight in the loss, and a strong dependence (a husband is male) keeps nearly all of it.

The loss is the mean over pairs, weighted by that share, of the total variation distance between the generated
and the released table; the generated table is a moving average over steps, so that the sign of a small cell's
error is read off more rows than one batch holds. The released tables are used in training only: no model file
holds them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

MOMENTUM = 0.9  # of the generated tables' moving average
# The loss works on a (slots)^2 matrix, so a wide table is taught the tables of its blocks of at most MAX_WIDTH
# slots, in column order, while they add up to MAX_SLOTS (a 10,000-row batch times 1,024^2 is 10 GFLOP a step).
MAX_WIDTH = 64
MAX_SLOTS = 1024


def taught_blocks(widths: list[int]) -> list[int]:
    """The blocks whose tables are taught: more than one slot (a numeric column of one mode says nothing), at most
    MAX_WIDTH, in order while their slots add up to MAX_SLOTS. Read off the widths alone: no row is looked at."""
    out, slots = [], 0
    for b, w in enumerate(widths):
        if 1 < w <= MAX_WIDTH and slots + w <= MAX_SLOTS:
            out.append(b)
            slots += w
    return out


def pair_counts(codes: np.ndarray, widths: list[int]) -> dict[tuple[int, int], np.ndarray]:
    """{(block i, block j): (width i, width j) counts} for every pair i < j of the taught blocks of `codes` (rows,
    blocks)."""
    out = {}
    blocks = taught_blocks(widths)
    for x, i in enumerate(blocks):
        for j in blocks[x + 1:]:
            cells = codes[:, i].astype(np.int64) * widths[j] + codes[:, j]
            out[(i, j)] = np.bincount(cells, minlength=widths[i] * widths[j]).reshape(widths[i], widths[j]).astype(
                np.float64)
    return out


def _margins(counts: dict[tuple[int, int], np.ndarray]) -> dict[int, np.ndarray]:
    """Each block's shares, averaged over every table that holds it (a row sum adds that many cells' noise)."""
    blocks = sorted({b for pair in counts for b in pair})
    margins = {}
    for b in blocks:
        total, weight = 0.0, 0.0
        for (i, j), table in counts.items():
            if b in (i, j):
                w = 1.0 / table.shape[1 if b == i else 0]
                total, weight = total + w * table.sum(axis=1 if b == i else 0), weight + w
        m = np.clip(total / weight, 0, None)
        margins[b] = m / m.sum() if m.sum() > 0 else np.full(len(m), 1 / len(m))
    return margins


def _departures(counts: dict, n_rows: int) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """{pair: (its margins' product, the table's shares less it)}."""
    margins = _margins(counts)
    out = {}
    for (i, j), table in counts.items():
        expected = np.outer(margins[i], margins[j])
        out[(i, j)] = expected, table / n_rows - expected
    return out


def strongest(counts: dict[tuple[int, int], np.ndarray], n_rows: int, noise: float, k: int) -> list[tuple[int, int]]:
    """The `k` pairs whose departure from independence stands furthest above the noise's expected share of it."""
    excess = {pair: float(np.square(d).sum()) - d.size * (noise / n_rows) ** 2
              for pair, (_, d) in _departures(counts, n_rows).items()}
    return sorted(excess, key=excess.get, reverse=True)[:max(0, k)]


def shrink(counts: dict[tuple[int, int], np.ndarray], n_rows: int, noise: float | dict
           ) -> dict[tuple[int, int], tuple[np.ndarray, float]]:
    """{pair: (table of shares summing to 1, weight in [0, 1])} from counts with Gaussian noise of standard deviation
    `noise` in each cell (one for all tables, or {pair: noise}; 0: exact counts, every weight 1). Each table is its
    margins' product plus its departure from it, shrunk by the share of that departure's energy the noise does not
    explain (positive-part James-Stein)."""
    out = {}
    for pair, (expected, departure) in _departures(counts, n_rows).items():
        sd = noise[pair] if isinstance(noise, dict) else noise
        energy = float(np.square(departure).sum())
        if sd == 0:
            weight = 1.0
        elif energy > 0:
            weight = max(0.0, 1.0 - departure.size * (sd / n_rows) ** 2 / energy)
        else:
            weight = 0.0
        shares = np.clip(expected + weight * departure, 0, None)
        out[pair] = (shares / shares.sum(), weight)
    return out


class PairLoss(nn.Module):
    """The pair tables as one (one-hot columns)^2 matrix: a batch's tables are its weighted Gram matrix. Built empty
    with the networks, so that a checkpoint keeps it like one; `fill` sets the tables at the start of a fit."""

    def __init__(self, widths: list[int]):
        super().__init__()
        blocks = taught_blocks(widths)
        first = np.concatenate([[0], np.cumsum(widths)]).astype(int)
        # Each taught block's start in the matrix, and the slots of the one-hot row it takes them from.
        starts = np.concatenate([[0], np.cumsum([widths[b] for b in blocks])]).astype(int)
        self.starts = {b: (int(starts[x]), int(starts[x + 1])) for x, b in enumerate(blocks)}
        self.register_buffer("columns", torch.tensor([c for b in blocks for c in range(first[b], first[b + 1])],
                                                     dtype=torch.long), persistent=False)
        k = int(starts[-1])
        self.register_buffer("target", torch.zeros(k, k))
        self.register_buffer("weight", torch.zeros(k, k))
        self.register_buffer("average", torch.zeros(k, k))
        self.register_buffer("filled", torch.zeros((), dtype=torch.bool))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def fill(self, tables: dict[tuple[int, int], tuple[np.ndarray, float]]) -> None:
        """Set the tables, {pair: (shares, weight)} as `shrink` gives them."""
        s = self.starts
        target, weight = torch.zeros_like(self.target), torch.zeros_like(self.weight)
        for (i, j), (shares, w) in tables.items():
            (a, b), (c, d) = s[i], s[j]
            target[a:b, c:d] = torch.from_numpy(shares).to(target)
            weight[a:b, c:d] = w
        total = sum(w for _, w in tables.values())
        self.target.copy_(target)
        self.weight.copy_(weight / (2 * total) if total > 0 else weight)
        self.filled.fill_(True)

    def forward(self, one_hot: torch.Tensor, row_weights: torch.Tensor | None = None) -> torch.Tensor:
        """`one_hot`: (rows, one-hot columns) generated rows as the critic sees them; `row_weights`: each row's weight
        (undoing the conditions' draw by log-frequency), or None. The weighted mean total variation distance; its
        gradient follows each cell's error as the moving average reads it."""
        one_hot = one_hot[:, self.columns]
        w = torch.ones(len(one_hot), device=one_hot.device) if row_weights is None else row_weights
        gram = (one_hot * (w / w.sum())[:, None]).t() @ one_hot
        momentum = MOMENTUM * self.started  # the first batch starts the average (as a tensor: no device sync)
        smoothed = momentum * self.average + (1 - momentum) * gram.detach()
        self.average.copy_(smoothed)
        self.started.fill_(True)
        error = smoothed - self.target
        value = (self.weight * error.abs()).sum()
        surrogate = (self.weight * error.sign() * gram).sum()
        return value + surrogate - surrogate.detach()
