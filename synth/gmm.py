"""A one-dimensional variational Bayesian Gaussian mixture, vectorised in numpy.

Mode-specific normalisation needs, per continuous column, a mixture whose unused components die away:
a truncated Dirichlet-process (stick-breaking) prior with a small concentration does that, and its
ordering breaks the tie between components that start alike (Blei & Jordan 2006; Bishop, PRML 10.2
for the Gaussian-Gamma part). It is fitted on a bounded sample of the column, so its cost does not
grow with the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma


@dataclass
class Mixture:
    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k,)
    stds: np.ndarray  # (k,)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """(n, k) log of weight_k * N(x | mean_k, std_k)."""
        z = (x[:, None] - self.means[None, :]) / self.stds[None, :]
        return np.log(self.weights)[None, :] - 0.5 * z * z - np.log(self.stds)[None, :] - 0.5 * np.log(2 * np.pi)


def fit_mixture(
    x: np.ndarray,
    max_modes: int = 10,
    weight_prior: float = 1e-3,
    weight_threshold: float = 5e-3,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> Mixture:
    """Fit a variational GMM to finite 1-D values (already standardised) and drop negligible modes."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    k = max(1, min(max_modes, len(np.unique(x))))
    # Initial hard assignment to centres spread over the distinct values, so that a spike (a value
    # repeated many times) takes one centre and the rest of the range the others.
    distinct = np.unique(x)
    centres = distinct[np.linspace(0, len(distinct) - 1, k).round().astype(int)]
    # Responsibilities are kept as (k, n): every reduction over the modes then runs along the long,
    # contiguous axis of values, not a short trailing axis.
    resp = np.zeros((k, n))
    resp[np.abs(x[None, :] - centres[:, None]).argmin(0), np.arange(n)] = 1.0

    m0, beta0 = float(x.mean()), 1.0
    a0, b0 = 1.0, max(float(x.var()), 1e-6)
    prev = None
    for _ in range(max_iter):
        nk = resp.sum(1) + 1e-10
        xbar = resp @ x / nk
        sk = (resp * (x[None, :] - xbar[:, None]) ** 2).sum(1) / nk
        # Stick-breaking: v_k ~ Beta(1 + n_k, prior + n_{>k}).
        tail = nk[::-1].cumsum()[::-1] - nk
        g1, g2 = 1.0 + nk, weight_prior + tail
        beta = beta0 + nk
        m = (beta0 * m0 + nk * xbar) / beta
        a = a0 + nk / 2
        b = b0 + 0.5 * (nk * sk + beta0 * nk / (beta0 + nk) * (xbar - m0) ** 2)
        b = np.maximum(b, 1e-12)
        e_log_v = digamma(g1) - digamma(g1 + g2)
        e_log_1mv = digamma(g2) - digamma(g1 + g2)
        e_log_pi = e_log_v + np.concatenate([[0.0], np.cumsum(e_log_1mv)[:-1]])
        e_log_lam = digamma(a) - np.log(b)
        log_rho = (e_log_pi + 0.5 * e_log_lam - 0.5 / beta)[:, None] - 0.5 * (a / b)[:, None] * (
            x[None, :] - m[:, None]) ** 2
        log_rho -= log_rho.max(0)
        resp = np.exp(log_rho)
        resp /= resp.sum(0)
        weights = _stick_weights(g1, g2)
        if prev is not None and np.abs(weights - prev).max() < tol:
            break
        prev = weights

    weights = _stick_weights(g1, g2)
    stds = np.sqrt(b / a)
    keep = weights > weight_threshold
    if not keep.any():
        keep[np.argmax(weights)] = True
    w, mu, sd = _merge_close(weights[keep] / weights[keep].sum(), m[keep], stds[keep])
    # A floor on std keeps spikes (a value repeated many times) from dividing by ~0.
    return Mixture(weights=w, means=mu, stds=np.maximum(sd, 1e-3))


def _merge_close(w: np.ndarray, m: np.ndarray, s: np.ndarray, ratio: float = 0.5):
    """Merge neighbouring modes whose means lie closer than `ratio` of their spread (moment matching):
    variational fits often leave one bump split in near-identical parts, which only widens the GAN's
    output for nothing."""
    order = np.argsort(m)
    w, m, s = list(w[order]), list(m[order]), list(s[order])
    i = 0
    while i < len(m) - 1:
        if abs(m[i + 1] - m[i]) < ratio * max(s[i], s[i + 1]):
            wt = w[i] + w[i + 1]
            mean = (w[i] * m[i] + w[i + 1] * m[i + 1]) / wt
            second = (w[i] * (s[i] ** 2 + m[i] ** 2) + w[i + 1] * (s[i + 1] ** 2 + m[i + 1] ** 2)) / wt
            w[i : i + 2], m[i : i + 2], s[i : i + 2] = [wt], [mean], [np.sqrt(max(second - mean**2, 1e-12))]
        else:
            i += 1
    return np.array(w), np.array(m), np.array(s)


def _stick_weights(g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    v = g1 / (g1 + g2)
    return v * np.concatenate([[1.0], np.cumprod(1 - v)[:-1]])
