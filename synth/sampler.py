"""Conditional vectors and training-by-sampling, vectorised on the training device.

A conditional vector names one category of one categorical block. In training the block is chosen
uniformly and the category by log-frequency (CTGAN's training-by-sampling, so rare categories are
seen); a real row holding that category is then drawn for the discriminator. Both draws are a few
tensor ops per batch: rows are pre-sorted by category once, so a draw is an offset plus a random index.
"""

from __future__ import annotations

import numpy as np
import torch


class ConditionalSampler:
    def __init__(self, codes: np.ndarray, widths: list[int], cond_blocks: list[int], log_frequency: bool,
                 device: torch.device):
        self.device = device
        self.n_rows = codes.shape[0]
        self.cond_blocks = cond_blocks
        self.widths = [widths[b] for b in cond_blocks]
        self.cond_dim = sum(self.widths)
        # Global id of (cond block j, category c) = start[j] + c.
        self.block_start = torch.tensor(np.concatenate([[0], np.cumsum(self.widths)[:-1]]) if self.widths else [],
                                        dtype=torch.long, device=device)
        if not cond_blocks:
            return
        counts, rows_by_cat, row_start = [], [], []
        offset = 0
        for b, w in zip(cond_blocks, self.widths, strict=True):
            col = codes[:, b]
            order = np.argsort(col, kind="stable")
            c = np.bincount(col, minlength=w)
            rows_by_cat.append(order)
            row_start.append(offset + np.concatenate([[0], np.cumsum(c)[:-1]]))
            counts.append(c)
            offset += len(col)
        counts_all = np.concatenate(counts).astype(np.float64)
        self.rows_by_cat = torch.from_numpy(np.concatenate(rows_by_cat).astype(np.int64)).to(device)
        self.row_start = torch.from_numpy(np.concatenate(row_start).astype(np.int64)).to(device)
        self.count = torch.from_numpy(counts_all).to(device)
        # Per block, the category distribution for training (log-frequency) and the true one.
        train_p = np.log1p(counts_all) if log_frequency else counts_all.copy()
        true_p = counts_all.copy()
        self.train_logits = self._block_matrix(train_p)
        self.true_logits = self._block_matrix(true_p)

    def _block_matrix(self, p: np.ndarray) -> torch.Tensor:
        """(n_cond_blocks, max_width) log-probabilities, -inf in the padding."""
        w = max(self.widths)
        out = np.full((len(self.widths), w), -np.inf)
        start = 0
        for j, width in enumerate(self.widths):
            block = p[start:start + width]
            with np.errstate(divide="ignore"):
                out[j, :width] = np.log(block / block.sum())
            start += width
        return torch.tensor(out, dtype=torch.float32, device=self.device)

    def sample_condition(self, n: int, gen: torch.Generator, true_frequency: bool = False):
        """(cond one-hot (n, cond_dim), block index j (n,), category c (n,)) or None without categoricals."""
        if not self.cond_blocks:
            return None
        j = torch.randint(len(self.widths), (n,), generator=gen, device=self.device)
        logits = (self.true_logits if true_frequency else self.train_logits)[j]
        c = _categorical(logits, gen)
        return self.one_hot(j, c), j, c

    def one_hot(self, j: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        cond = torch.zeros(len(j), self.cond_dim, device=self.device)
        cond[torch.arange(len(j), device=self.device), self.block_start[j] + c] = 1.0
        return cond

    def sample_rows(self, j: torch.Tensor | None, c: torch.Tensor | None, n: int, gen: torch.Generator):
        """Indices of real rows: each holds category c of block j (uniform rows without conditions)."""
        if j is None:
            return torch.randint(self.n_rows, (n,), generator=gen, device=self.device)
        g = self.block_start[j] + c
        u = torch.rand(n, generator=gen, device=self.device)
        pick = (u * self.count[g]).long()
        return self.rows_by_cat[self.row_start[g] + pick]


def _categorical(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One draw per row from softmax(logits), by the Gumbel-max trick."""
    u = torch.rand(logits.shape, generator=gen, device=logits.device).clamp_(1e-10, 1 - 1e-7)
    return (logits - torch.log(-torch.log(u))).argmax(1)
