"""Pair rules: two category values the training rows never hold together although their own counts made many such
rows expected. Such an empty cell is a rule of the table, not chance (a husband is never female; a customer without
internet service has no online backup). The critic alone teaches most of them but leaves a few percent of rows
breaking one (BENCHMARKS.md, "Rows that hold together").

So the generator is also taught them directly: sampling draws each category block independently from the
generator's softmax for a row, so p_i(a) * p_j(b) is the chance that the row comes out holding the pair (a, b), and
its sum over the rules is a loss the generator minimises beside the critic's. The rules are found in the training
rows at the start of a fit and used only there: no model file holds them, and sampling rejects nothing; what the
model learned is in its weights. Not under differential privacy: whether a cell is empty is read off the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# A cell is a rule when independent columns would have put at least this many rows in it: the chance that chance
# alone empties it is then below e^-10. A rarer unseen pair is left to the critic.
MIN_EXPECTED = 10.0


@dataclass
class PairRules:
    """The empty cells of each pair of category blocks that many rows were expected in."""

    tables: dict[tuple[int, int], np.ndarray]  # (block i, block j) -> (width i, width j) bool

    @classmethod
    def learn(cls, codes: np.ndarray, blocks: list[int], widths: list[int],
              min_expected: float = MIN_EXPECTED) -> PairRules:
        """`codes`: (rows, all blocks) training codes; `blocks`: the category blocks among them."""
        n = len(codes)
        counts = {b: np.bincount(codes[:, b], minlength=widths[b]) for b in blocks}
        tables = {}
        for x, i in enumerate(blocks):
            for j in blocks[x + 1:]:
                seen = np.bincount(codes[:, i].astype(np.int64) * widths[j] + codes[:, j],
                                   minlength=widths[i] * widths[j]).reshape(widths[i], widths[j])
                empty = (seen == 0) & (np.outer(counts[i], counts[j]) >= min_expected * n)
                if empty.any():
                    tables[(i, j)] = empty
        return cls(tables)

    def __bool__(self) -> bool:
        return bool(self.tables)

    @property
    def count(self) -> int:
        return int(sum(t.sum() for t in self.tables.values()))

    def broken(self, codes: np.ndarray) -> np.ndarray:
        """(rows,) bool: the rows holding at least one of the pairs."""
        out = np.zeros(len(codes), dtype=bool)
        for (i, j), table in self.tables.items():
            out |= table[codes[:, i], codes[:, j]]
        return out


class RuleLoss:
    """The rules as tensors: (pairs,) block indices and (pairs, width, width) masks in the layout's padded width."""

    def __init__(self, rules: PairRules, width: int, device: torch.device):
        pairs = list(rules.tables)
        self.first = torch.tensor([i for i, _ in pairs], dtype=torch.long, device=device)
        self.second = torch.tensor([j for _, j in pairs], dtype=torch.long, device=device)
        masks = torch.zeros(len(pairs), width, width)
        for p, table in enumerate(rules.tables.values()):
            masks[p, : table.shape[0], : table.shape[1]] = torch.from_numpy(table.astype(np.float32))
        self.masks = masks.to(device)

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        """`probs`: (rows, blocks, width) category probabilities (0 in the padding). The mean over rows of the
        chance that a row, its categories drawn from them, holds a rule's pair (summed over the rules)."""
        return torch.einsum("rpa,pab,rpb->", probs[:, self.first], self.masks, probs[:, self.second]) / len(probs)
