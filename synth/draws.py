"""The random draws of a sampling task: on the CPU uniform and standard normal draws in about two thirds
of torch's time, on an accelerator torch's own generators (fast there).

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


def uniform_doubles(bits: np.random.BitGenerator, n: int) -> torch.Tensor:
    """`n` float64 draws from [0, 1), multiples of 2**-53 (for searches over cumulative frequencies)."""
    words = bits.random_raw(n)
    np.right_shift(words, np.uint64(11), out=words)
    out = words.astype(np.float64)  # exact: below 2**53
    out *= 2.0**-53
    return torch.from_numpy(out)


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


class TaskDraws:
    """Every draw of one sampling task (or of calibration), from one seed: SFC64 through the functions above
    on the CPU, a torch generator on an accelerator. Tensors on `device`."""

    def __init__(self, seed: np.random.SeedSequence, device: torch.device):
        self.device = device
        if device.type == "cpu":
            self.bits = np.random.SFC64(seed)
        else:
            self.gen = torch.Generator(device).manual_seed(int(seed.generate_state(1)[0]))

    def normal(self, rows: int, cols: int) -> torch.Tensor:
        if self.device.type == "cpu":
            return standard_normal(self.bits, rows, cols)
        return torch.randn(rows, cols, generator=self.gen, device=self.device)

    def uniform(self, rows: int, cols: int) -> torch.Tensor:
        if self.device.type == "cpu":
            return uniform(self.bits, rows, cols)
        return torch.rand(rows, cols, generator=self.gen, device=self.device)

    def doubles(self, n: int) -> torch.Tensor:
        if self.device.type == "cpu":
            return uniform_doubles(self.bits, n)
        return torch.rand(n, generator=self.gen, device=self.device, dtype=torch.float64)
