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
        self.block_of = torch.from_numpy(np.repeat(np.arange(len(self.widths)), self.widths)).to(device)
        # The condition distributions, flat over (block, category) pairs: a block uniformly, then its
        # category by log-frequency (training) or by true frequency (sampling); one draw is one search.
        self.train_cdf = self._cdf(np.log1p(counts_all) if log_frequency else counts_all)
        self.true_cdf = self._cdf(counts_all)

    def set_true_frequencies(self, frequencies: np.ndarray) -> None:
        self.true_cdf = self._cdf(np.asarray(frequencies, dtype=np.float64))

    def _cdf(self, weights: np.ndarray) -> torch.Tensor:
        p, start = np.empty_like(weights), 0
        for width in self.widths:
            block = weights[start:start + width]
            p[start:start + width] = block / block.sum() / len(self.widths)
            start += width
        return torch.from_numpy(np.cumsum(p)).to(self.device)

    def sample_condition(self, n: int, gen: torch.Generator):
        """Training's conditions: (block index j (n,), category c (n,)), or None without categoricals."""
        if not self.cond_blocks:
            return None
        u = torch.rand(n, generator=gen, device=self.device, dtype=torch.float64) * self.train_cdf[-1]
        g = torch.searchsorted(self.train_cdf, u, right=True).clamp_(max=self.cond_dim - 1)
        j = self.block_of[g]
        return j, g - self.block_start[j]

    def weights(self, j: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Each condition's true probability over its training one: the weight that makes rows generated under
        training's conditions count as rows drawn by true frequency."""
        g = self.block_start[j] + c
        train = torch.diff(self.train_cdf, prepend=self.train_cdf.new_zeros(1)) / self.train_cdf[-1]
        true = torch.diff(self.true_cdf, prepend=self.true_cdf.new_zeros(1)) / self.true_cdf[-1]
        return (true[g] / train[g]).float()

    def true_columns(self, u: torch.Tensor) -> torch.Tensor:
        """Sampling's conditions: for each uniform of `u` (float64 in [0, 1)), the conditional one-hot's
        column, a block drawn uniformly and its category by true frequency (one search over their flat CDF)."""
        return torch.searchsorted(self.true_cdf, u * self.true_cdf[-1], right=True).clamp_(max=self.cond_dim - 1)

    def one_hot_index(self, j: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The column of the conditional one-hot that is 1 for category c of block j."""
        return self.block_start[j] + c

    def sample_rows(self, j: torch.Tensor | None, c: torch.Tensor | None, n: int, gen: torch.Generator):
        """Indices of real rows: each holds category c of block j (uniform rows without conditions)."""
        if j is None:
            return torch.randint(self.n_rows, (n,), generator=gen, device=self.device)
        g = self.block_start[j] + c
        u = torch.rand(n, generator=gen, device=self.device)
        pick = (u * self.count[g]).long()
        return self.rows_by_cat[self.row_start[g] + pick]

