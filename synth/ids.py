"""New key values for ID columns: the shape of the real keys, never their content, unique by construction.

Integer keys are an affine permutation of a range as wide as the real one (a*i + b mod a prime),
so row i of a sample and row j never collide for i != j while the sample is smaller than the range.
Text keys keep the prefix shared by all real keys and replace every other letter and digit by a random
one of the same class, following a template drawn from the real keys; a row counter is written into
the digits that the template has, so two rows only collide when a template has almost no digits.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from synth.protect import protected_bounds

MAX_TEMPLATES = 200
_LIMB_MODULUS = 2**55  # integer keys below it are computed in numpy (_affine), above it in Python
_DIGITS = np.array(list("0123456789"))
_LOWER = np.array(list("abcdefghijklmnopqrstuvwxyz"))
_UPPER = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


@dataclass
class IdSpec:
    name: str
    integer: bool
    low: int = 0
    high: int = 0
    prefix: str = ""
    templates: list[str] | None = None  # class strings: 9 digit, a lower, A upper, other chars literal

    def to_dict(self) -> dict:
        return asdict(self)


def fit_id(name: str, series: pd.Series, seed: int, min_rows: int = 1) -> IdSpec:
    """The keys' shape. With `min_rows` k above 1 (synth.protect), nothing that fewer than k keys hold is
    kept: integer bounds are the means of the k smallest and k largest keys (rounded inward), and only the
    templates that at least k keys share (the prefix is shared by all); with none, a plain digit template."""
    values = series.dropna()
    if pd.api.types.is_numeric_dtype(values):
        if min_rows > 1:
            low, high = protected_bounds(values.to_numpy(dtype=np.float64), min_rows, 1.0) or (0.0, 0.0)
            return IdSpec(name=name, integer=True, low=int(low), high=int(high))
        return IdSpec(name=name, integer=True, low=int(values.min()), high=int(values.max()))
    text = values.astype(str).to_numpy()
    prefix = os.path.commonprefix(list(text[:1000])) if len(text) >= min_rows else ""
    rng = np.random.default_rng(seed)
    if min_rows > 1:
        shapes = pd.Series([_template(v[len(prefix):]) for v in text], dtype=object)
        counts = shapes.value_counts()
        common = shapes.isin(counts.index[counts.to_numpy() >= min_rows]).to_numpy()
        if not common.any():
            return IdSpec(name=name, integer=False, prefix=prefix, templates=["9" * max(6, len(str(len(text))))])
        text = text[common]
    picked = text if len(text) <= MAX_TEMPLATES else rng.choice(text, MAX_TEMPLATES, replace=False)
    return IdSpec(name=name, integer=False, prefix=prefix,
                  templates=[_template(v[len(prefix):]) for v in picked])


def _template(value: str) -> str:
    return "".join("9" if ch.isdigit() else "a" if ch.islower() else "A" if ch.isupper() else ch
                   for ch in value)


def generate_ids(spec: IdSpec, start: int, n: int, total: int, seed: int) -> np.ndarray:
    """Keys for rows start .. start+n-1 of a `total`-row sample drawn with `seed`."""
    if spec.integer:
        modulus = _next_prime(max(spec.high - spec.low + 1, total, 2))
        mult, shift = (int(v) for v in np.random.default_rng(seed).integers(1, modulus, size=2))
        rows = np.arange(start, start + n, dtype=np.int64)
        if modulus < _LIMB_MODULUS and spec.low + modulus < 2**63:
            return spec.low + _affine(mult, shift, rows, modulus)
        values = [spec.low + (mult * int(i) + shift) % modulus for i in rows]
        return np.array(values, dtype=np.int64 if spec.low + modulus < 2**63 else object)
    rng = np.random.default_rng([seed, start])
    templates = spec.templates or ["a"]
    chosen = rng.integers(len(templates), size=n)
    out = np.empty(n, dtype=object)
    counters = np.arange(start, start + n)
    for t in np.unique(chosen):
        rows = np.flatnonzero(chosen == t)
        out[rows] = _fill(templates[t], counters[rows], rng)
    return out if not spec.prefix else np.array([spec.prefix + v for v in out], dtype=object)


def _fill(template: str, counters: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One key per counter, vectorised over rows: a (rows, len) array of characters joined per row."""
    chars = np.array(list(template), dtype="<U1")[None, :].repeat(len(counters), 0)
    for cls, alphabet in (("a", _LOWER), ("A", _UPPER), ("9", _DIGITS)):
        cols = np.flatnonzero(chars[0] == cls)
        if len(cols):
            chars[:, cols] = alphabet[rng.integers(len(alphabet), size=(len(counters), len(cols)))]
    # The row counter goes into the trailing digit slots, so keys of one template differ.
    digit_cols = np.flatnonzero(np.array(list(template)) == "9")[::-1]
    value = counters.copy()
    for col in digit_cols[: len(str(int(counters.max())))]:
        chars[:, col] = _DIGITS[value % 10]
        value //= 10
    return chars.view(f"<U{len(template)}")[:, 0].tolist() if len(template) else [""] * len(counters)


def _affine(mult: int, shift: int, rows: np.ndarray, modulus: int) -> np.ndarray:
    """(mult * rows + shift) % modulus, exactly, for rows below modulus: the product is built a byte of
    `mult` at a time (Horner), so every partial result stays below 2**64 while modulus < 2**55."""
    r, m = rows.astype(np.uint64), np.uint64(modulus)
    acc = np.zeros(len(r), dtype=np.uint64)
    for k in reversed(range(0, mult.bit_length(), 8)):
        acc *= np.uint64(256)  # acc < m < 2**55: below 2**63
        acc += np.uint64((mult >> k) & 0xFF) * r  # a byte times a row: below 2**63 too
        acc %= m
    acc += np.uint64(shift % modulus)
    acc %= m
    return acc.astype(np.int64)


def _next_prime(n: int) -> int:
    n = max(n, 2)
    while not _is_prime(n):
        n += 1
    return n


_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def _is_prime(n: int) -> bool:
    """Miller-Rabin with the first 13 primes as witnesses: exact below 3.3e24 (every int64 key range),
    where trial division took a tenth of a second a call for ten-digit keys."""
    if n < 2:
        return False
    for p in _WITNESSES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True
