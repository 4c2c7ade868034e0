import numpy as np
import pytest

from synth.interp import Interpolator


def _grid(rng, kind):
    if kind == "smooth":
        xp = np.sort(rng.normal(size=257))
        fp = np.sort(rng.normal(size=257))
    elif kind == "ties":  # repeated breakpoints (jumps) and repeated values (flat stretches)
        xp = np.sort(rng.integers(0, 40, 257).astype(float) / 7)
        fp = np.sort(rng.integers(0, 30, 257).astype(float))
    elif kind == "spiky":  # most of the mass on one value, like capital-gain
        xp = np.sort(rng.normal(size=257))
        fp = np.sort(np.where(rng.random(257) < 0.9, 0.0, rng.exponential(5, 257)))
    else:  # "one value": every breakpoint equal
        xp, fp = np.full(5, 1.5), np.sort(rng.normal(size=5))
    return xp, fp


@pytest.mark.parametrize("kind", ["smooth", "ties", "spiky", "one value"])
def test_interpolator_is_np_interp(kind):
    rng = np.random.default_rng(0)
    for _ in range(50):
        xp, fp = _grid(rng, kind)
        x = np.concatenate([rng.uniform(xp[0] - 1, xp[-1] + 1, 5000), xp, np.nextafter(xp, np.inf),
                            np.nextafter(xp, -np.inf), [np.inf, -np.inf, np.nan]])
        assert np.array_equal(Interpolator(xp, fp)(x), np.interp(x, xp, fp), equal_nan=True)


def test_interpolator_folds_an_affine_map_in():
    rng = np.random.default_rng(1)
    xp, fp = np.sort(rng.normal(size=257)), np.sort(rng.normal(size=257))
    x = rng.normal(size=1000) * 2
    assert np.allclose(Interpolator(xp, fp, scale=3.5, shift=-2.0)(x), np.interp(x, xp, fp) * 3.5 - 2.0,
                       rtol=1e-12, atol=1e-12)


def test_interpolator_refuses_a_decreasing_grid():
    with pytest.raises(ValueError):
        Interpolator([0.0, 2.0, 1.0], [0.0, 1.0, 2.0])
