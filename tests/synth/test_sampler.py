import numpy as np
import torch

from synth.draws import uniform_doubles
from synth.sampler import ConditionalSampler


def _sampler() -> ConditionalSampler:
    # Block 0 is continuous-like (not a condition); blocks 1 and 2 are categorical, 3 and 4 wide.
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 2, 6_000), rng.choice(3, 6_000, p=[0.7, 0.2, 0.1]),
                      rng.choice(4, 6_000, p=[0.05, 0.15, 0.3, 0.5])], axis=1).astype(np.int32)
    return ConditionalSampler(codes, [2, 3, 4], [1, 2], log_frequency=True, device=torch.device("cpu"))


def test_true_columns_draw_a_block_uniformly_then_its_category_by_frequency():
    sampler = _sampler()
    columns = sampler.true_columns(uniform_doubles(np.random.SFC64(0), 200_000))
    assert columns.min() >= 0 and columns.max() < sampler.cond_dim
    share = np.bincount(columns, minlength=7) / len(columns)
    counts = sampler.count.numpy()
    expected = np.concatenate([counts[:3] / counts[:3].sum(), counts[3:] / counts[3:].sum()]) / 2
    assert np.allclose(share, expected, atol=0.005)


def test_true_columns_agree_with_the_block_and_category_draw():
    sampler = _sampler()
    j, c = sampler.sample_condition(200_000, torch.Generator().manual_seed(0), true_frequency=True)
    torch_share = np.bincount(sampler.one_hot_index(j, c).numpy(), minlength=7) / 200_000
    numpy_share = np.bincount(sampler.true_columns(uniform_doubles(np.random.SFC64(1), 200_000)), minlength=7)
    assert np.allclose(numpy_share / 200_000, torch_share, atol=0.005)


def test_uniform_doubles_have_53_bits_and_fill_the_unit_interval():
    u = uniform_doubles(np.random.SFC64(2), 100_000)
    assert u.dtype == np.float64 and u.min() >= 0 and u.max() < 1
    assert np.all(u * 2**53 == np.floor(u * 2**53))
    assert abs(u.mean() - 0.5) < 0.005 and abs(np.mean(u < 0.1) - 0.1) < 0.005
