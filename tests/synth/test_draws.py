import numpy as np
import pytest
import torch
from scipy import stats

from synth.draws import TaskDraws, standard_normal, uniform, uniform_doubles


def test_draws_are_standard_normal_and_independent():
    z = standard_normal(np.random.SFC64(0), 4_000, 100).numpy().astype(np.float64)
    assert z.shape == (4_000, 100)
    flat = z.ravel()
    assert stats.kstest(flat, "norm").pvalue > 0.01
    assert abs(flat.mean()) < 0.003 and abs(flat.std() - 1) < 0.003  # 400,000 draws: 3 standard errors
    # Box-Muller's pairs are the two halves of the flat draws: uncorrelated, as are neighbouring columns
    half = len(flat) // 2
    assert abs(np.corrcoef(flat[:half], flat[half:])[0, 1]) < 0.006
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.06
    # Squared radii are chi-square with 2 degrees of freedom, tails included
    r2 = flat[:half] ** 2 + flat[half:] ** 2
    assert stats.kstest(r2, "chi2", args=(2,)).pvalue > 0.01
    assert np.mean(r2 > 12) == pytest.approx(np.exp(-6), rel=0.1)  # about 500 of 200,000 pairs


@pytest.mark.parametrize(("rows", "dim"), [(7, 3), (1, 1), (10_000, 128)])
def test_any_shape_with_finite_draws_from_the_bits_alone(rows, dim):
    a = standard_normal(np.random.SFC64(5), rows, dim)
    b = standard_normal(np.random.SFC64(5), rows, dim)
    assert a.shape == (rows, dim) and a.is_contiguous()
    assert np.array_equal(a.numpy(), b.numpy())
    assert np.isfinite(a.numpy()).all() and a.abs().max() < 5.3  # 20-bit uniforms bound the radius


def test_uniforms_fill_the_unit_interval_evenly():
    u = uniform(np.random.SFC64(1), 500, 400).numpy()
    assert u.shape == (500, 400) and u.dtype == np.float32
    assert u.min() >= 0 and u.max() < 1
    assert np.all(u * 2**24 == np.round(u * 2**24))  # 24-bit
    assert stats.kstest(u.ravel().astype(np.float64), "uniform").pvalue > 0.01
    assert np.array_equal(u, uniform(np.random.SFC64(1), 500, 400).numpy())


def test_a_tasks_draws_on_the_cpu_are_the_functions_above_on_one_sfc64_stream():
    seed = np.random.SeedSequence([4, 2])
    draws, bits = TaskDraws(seed, torch.device("cpu")), np.random.SFC64(seed)
    assert torch.equal(draws.normal(3, 8), standard_normal(bits, 3, 8))
    assert torch.equal(draws.uniform(2, 5), uniform(bits, 2, 5))
    assert torch.equal(draws.doubles(7), uniform_doubles(bits, 7))
