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
    """Everywhere: far outside the points, at each point (after its jump, as np.interp), either side of it."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        xp, fp = _grid(rng, kind)
        x = np.concatenate([rng.uniform(xp[0] - 1, xp[-1] + 1, 5000), xp, np.nextafter(xp, np.inf),
                            np.nextafter(xp, -np.inf), [xp[0] - 1e6, xp[-1] + 1e6, np.nan]])
        expected = np.interp(x, xp, fp)
        # a + b x loses the digits of b x where a segment is steep: a gap of 1e-6 in xp, 1e-11 here
        assert np.allclose(Interpolator(xp, fp)(x), expected, rtol=0, atol=1e-10 * np.abs(fp).max(),
                           equal_nan=True)


@pytest.mark.parametrize("cells", [8, 64, 1024])
def test_every_value_finds_its_segment_whatever_the_cells(cells, monkeypatch):
    """Few cells: many hold two breakpoints or more (searched); many: most hold none or one (one step)."""
    import synth.interp

    monkeypatch.setattr(synth.interp, "MAX_CELLS", cells)
    monkeypatch.setattr(synth.interp, "CELLS_PER_POINT", 1)
    rng = np.random.default_rng(2)
    xp, fp = np.sort(rng.exponential(size=257)), np.sort(rng.normal(size=257)) * 1000
    x = np.concatenate([rng.exponential(size=20_000), xp])
    interpolator = Interpolator(xp, fp)
    assert interpolator.cells == cells
    assert np.allclose(interpolator(x), np.interp(x, xp, fp), rtol=0, atol=1e-9)


def test_interpolator_refuses_a_decreasing_grid():
    with pytest.raises(ValueError):
        Interpolator([0.0, 2.0, 1.0], [0.0, 1.0, 2.0])


def test_a_map_with_more_segments_than_int16_holds():
    rng = np.random.default_rng(3)
    xp, fp = np.sort(rng.normal(size=40_000)), np.sort(rng.normal(size=40_000))
    interpolator = Interpolator(xp, fp)
    assert interpolator.segment.dtype == np.int32
    x = rng.normal(size=20_000) * 1.2
    assert np.allclose(interpolator(x), np.interp(x, xp, fp), rtol=0, atol=1e-9)
