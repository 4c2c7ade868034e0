"""Uniform and standard normal draws for sampling on the CPU, in about two thirds of torch's time.

torch.rand and torch.randn on the CPU take their uniforms one at a time from a Mersenne Twister (about
2 ns each); the generator's noise (128 numbers a row) then costs a sixth as much as the network itself.
Here the random words come from SFC64 in one call (random_raw), and Box-Muller runs as whole-array numpy
operations in float32, whose log, sqrt, sin and cos are vectorised. Uniforms have 24 bits, as torch's;
normal draws are exactly Box-Muller's on them, so the largest is about 5.8.
"""

from __future__ import annotations

import numpy as np
import torch

_BITS = 24  # of each uniform: what a float32 holds exactly
_SCALE = np.float32(2.0**-_BITS)


def uniform(bits: np.random.BitGenerator, rows: int, cols: int) -> torch.Tensor:
    """A (rows, cols) float32 tensor of independent draws from [0, 1), multiples of 2**-24."""
    n = rows * cols
    out = _words(bits, n)
    out *= _SCALE
    return torch.from_numpy(out).view(rows, cols)


def uniform_doubles(bits: np.random.BitGenerator, n: int) -> np.ndarray:
    """`n` float64 draws from [0, 1), multiples of 2**-53 (for searches over cumulative frequencies)."""
    words = bits.random_raw(n)
    np.right_shift(words, np.uint64(11), out=words)
    out = words.astype(np.float64)  # exact: below 2**53
    out *= 2.0**-53
    return out


def _words(bits: np.random.BitGenerator, n: int) -> np.ndarray:
    """`n` random integers below 2**24 (the top bits of 32-bit words) as float32, exactly."""
    words = bits.random_raw((n + 1) // 2).view(np.uint32)[:n]  # two 32-bit words a raw draw
    np.right_shift(words, np.uint32(32 - _BITS), out=words)
    out = np.empty(n, dtype=np.float32)
    np.copyto(out, words.view(np.int32), casting="unsafe")  # exact: below 2**24
    return out


def standard_normal(bits: np.random.BitGenerator, rows: int, dim: int) -> torch.Tensor:
    """A (rows, dim) float32 tensor of independent N(0, 1) draws from `bits`."""
    n = rows * dim
    pairs = (n + 1) // 2
    out = _words(bits, 2 * pairs).reshape(2, pairs)
    radius, angle = out
    # radius = sqrt(-2 log u) with u = 1 - k / 2**24, exact in float32 and in (0, 1]: the log is finite.
    radius *= -_SCALE
    radius += np.float32(1)
    np.log(radius, out=radius)
    radius *= np.float32(-2)
    np.sqrt(radius, out=radius)
    angle *= np.float32(2 * np.pi) * _SCALE
    sine = np.sin(angle)
    np.cos(angle, out=angle)
    angle *= radius  # the pair's first draw, r cos(theta)
    radius *= sine  # and its second, r sin(theta)
    return torch.from_numpy(out.reshape(-1)[:n]).view(rows, dim)
