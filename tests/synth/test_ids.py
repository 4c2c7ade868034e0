import numpy as np
import pytest

from synth import ids
from synth.ids import IdSpec, generate_ids


def _trial_division(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, int(n**0.5) + 1))


def test_primality_matches_trial_division():
    for start in (0, 10**10):
        assert [ids._is_prime(n) for n in range(start, start + 2000)] == \
            [_trial_division(n) for n in range(start, start + 2000)]
    assert ids._is_prime(2**61 - 1) and not ids._is_prime(3_215_031_751)  # a strong pseudoprime to 2, 3, 5, 7


@pytest.mark.parametrize("modulus", [7, 2**31 + 11, 9_900_000_017, 2**54 + 9])
def test_affine_map_is_exact_where_int64_products_overflow(modulus):
    rng = np.random.default_rng(modulus % 1000)
    mult, shift = (int(v) for v in rng.integers(1, modulus, 2))
    rows = rng.integers(0, min(modulus, 2**40), 5000)
    assert ids._affine(mult, shift, rows, modulus).tolist() == [(mult * int(i) + shift) % modulus for i in rows]


def test_ten_digit_integer_keys_are_unique_in_range_and_as_the_exact_formula_gives(monkeypatch):
    spec = IdSpec(name="id", integer=True, low=1_000_102, high=9_900_000_190)  # King County's ids
    first, rest = generate_ids(spec, 0, 600, 1_000, seed=3), generate_ids(spec, 600, 400, 1_000, seed=3)
    keys = np.concatenate([first, rest])
    assert keys.dtype == np.int64 and len(set(keys.tolist())) == 1_000
    assert keys.min() >= spec.low and keys.max() < spec.low + ids._next_prime(spec.high - spec.low + 1)
    monkeypatch.setattr(ids, "_LIMB_MODULUS", 0)  # every key through Python's integers
    assert np.array_equal(generate_ids(spec, 0, 1_000, 1_000, seed=3), keys)
