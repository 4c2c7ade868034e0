"""Normal scores: a value's probability under a quantile function, mapped onto a standard normal.

The transformer gives a numeric column to the networks this way (`numeric_encoding`), and synth.centre gives a
number this way within its category.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

SCORE_TAIL = 1e-3  # normal scores are kept within the standard normal's 0.1% and 99.9% points


def score_grid(points: int) -> np.ndarray:
    """The normal scores of a quantile function's `points` probabilities, the ends kept finite."""
    return ndtri(np.clip(np.linspace(0, 1, points), SCORE_TAIL, 1 - SCORE_TAIL))


def normal_scores(z: np.ndarray, quantiles: np.ndarray, rng) -> np.ndarray:
    """Values (standardised) as normal scores: their probability under the quantile function, then the standard
    normal's quantile of it. A value that several quantile points share (a spike, such as a zero that half the rows
    hold) takes a probability drawn uniformly over their span, so that a spike becomes a stretch of the normal, not
    one point of it; decoding maps the stretch back onto the value."""
    probs = np.linspace(0, 1, len(quantiles))
    p = np.interp(z, quantiles, probs)
    first = np.searchsorted(quantiles, z, "left")
    last = np.searchsorted(quantiles, z, "right") - 1
    tied = last > first
    p[tied] = probs[first[tied]] + rng.random(int(tied.sum())) * (probs[last[tied]] - probs[first[tied]])
    return ndtri(np.clip(p, SCORE_TAIL, 1 - SCORE_TAIL))
