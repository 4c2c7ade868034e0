"""The random draws of a sampling task: on the CPU uniform draws in about two thirds of torch's time and
standard normal ones in half, on an accelerator torch's own generators (fast there).

torch.rand and torch.randn on the CPU take their uniforms one at a time from a Mersenne Twister (about
2 ns each); the generator's noise (128 numbers a row) then costs a sixth as much as the network itself.
Here the random words come from SFC64 in one call (random_raw), and Box-Muller runs as whole-array numpy
operations in float32, whose log, sqrt, sin and cos are vectorised. Uniforms have 24 bits, as torch's.
A normal pair takes one 32-bit word, not two: 20 bits for its radius, which is then at most 5.27 (a
normal pair's radius passes that once in 2**20 pairs; 24 bits allowed 5.77), and 12 bits for its angle.
The random words were two fifths of the noise's time, and the network reads the noise in bfloat16,
whose 8 significant bits are coarser than either.
"""

from __future__ import annotations

import numpy as np
import torch

_BITS = 24  # of each uniform: what a float32 holds exactly
_SCALE = np.float32(2.0**-_BITS)
_RADIUS_BITS, _ANGLE_BITS = 20, 12  # of a normal pair's 32-bit word


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
    """A (rows, dim) float32 tensor of independent N(0, 1) draws from `bits`: Box-Muller pairs, the first
    draws of the pairs, then the second ones."""
    n = rows * dim
    pairs = (n + 1) // 2
    words = bits.random_raw((pairs + 1) // 2).view(np.uint32)[:pairs]  # one 32-bit word a pair
    out = np.empty((2, pairs), dtype=np.float32)
    radius, angle = out
    np.copyto(angle, np.bitwise_and(words, np.uint32((1 << _ANGLE_BITS) - 1)).view(np.int32), casting="unsafe")
    np.right_shift(words, np.uint32(_ANGLE_BITS), out=words)
    np.copyto(radius, words.view(np.int32), casting="unsafe")  # exact: below 2**20
    # radius = sqrt(-2 log u) with u = 1 - k / 2**20, exact in float32 and in (0, 1]: the log is finite.
    radius *= np.float32(-(2.0**-_RADIUS_BITS))
    radius += np.float32(1)
    np.log(radius, out=radius)
    radius *= np.float32(-2)
    np.sqrt(radius, out=radius)
    angle *= np.float32(2 * np.pi * 2.0**-_ANGLE_BITS)
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
