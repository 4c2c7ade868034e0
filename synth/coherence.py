"""Coherence: whether rows hold together (METRICS.md, "Coherence").

The impossible-combination rate is the share of rows that hold at least one pair of values, from two categorical
or boolean columns with at most MAX_VALUES distinct values each, never seen together in the training rows (a null
counts as a value). Real rows the model never saw (a holdout) give its baseline: new real rows hold unseen pairs
now and then too. Codes in, figures out: `synth.quality` encodes the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_VALUES = 60  # columns with more distinct training values are left out: most of their pairs are unseen by chance
WORST_PAIRS = 5


@dataclass
class UnseenPairs:
    """Which rows of a table hold a pair of values never seen together in training, pair by pair."""

    rows: int
    flagged: np.ndarray  # (rows,) bool: at least one unseen pair
    per_pair: dict[tuple[int, int], np.ndarray]  # (i, j) column positions -> (rows,) bool

    @property
    def rate(self) -> float:
        return float(self.flagged.mean()) if self.rows else 0.0


def unseen_pairs(train: np.ndarray, rows: np.ndarray, sizes: np.ndarray) -> UnseenPairs:
    """`train`, `rows`: (n, k) int codes of k columns, 0..sizes[j]-1 for values and sizes[j] for null. Every pair of
    the k columns is checked against the pairs of codes the training rows hold."""
    k = train.shape[1]
    flagged = np.zeros(len(rows), dtype=bool)
    per_pair = {}
    for i in range(k):
        for j in range(i + 1, k):
            width = int(sizes[j]) + 1
            seen = np.zeros((int(sizes[i]) + 1) * width, dtype=bool)
            seen[train[:, i] * width + train[:, j]] = True
            unseen = ~seen[rows[:, i] * width + rows[:, j]]
            flagged |= unseen
            per_pair[(i, j)] = unseen
    return UnseenPairs(len(rows), flagged, per_pair)


def eligible(train: np.ndarray, sizes: np.ndarray) -> list[int]:
    """Positions of the columns with at most MAX_VALUES distinct non-null values in the training rows."""
    return [j for j in range(train.shape[1])
            if len(np.unique(train[:, j][train[:, j] < sizes[j]])) <= MAX_VALUES]


def worst_pairs(synthetic: UnseenPairs, holdout: UnseenPairs | None, names: list[str], values: list[list],
                codes: np.ndarray) -> list[dict]:
    """The column pairs whose unseen combinations are most frequent in the synthetic rows, each with its holdout
    rate and the most frequent unseen combination (`values[j][code]`: the text of a code; null for the last)."""
    ranked = sorted(synthetic.per_pair.items(), key=lambda item: -item[1].mean())
    out = []
    for (i, j), unseen in ranked[:WORST_PAIRS]:
        if not unseen.any():
            break
        pairs, counts = np.unique(codes[unseen][:, [i, j]], axis=0, return_counts=True)
        a, b = pairs[counts.argmax()]
        out.append({
            "columns": [names[i], names[j]],
            "rate": float(unseen.mean()),
            "holdout_rate": None if holdout is None else float(holdout.per_pair[(i, j)].mean()),
            "example": [_text(values[i], a), _text(values[j], b)],
            "example_rate": float(counts.max() / len(unseen)),
        })
    return out


def _text(values: list, code: int):  # noqa: ANN202
    return values[code] if code < len(values) else None
