import numpy as np
import torch

from synth.draws import uniform_doubles
from synth.sampler import ConditionalSampler


def _sampler() -> ConditionalSampler:
    # Block 0 is not a condition; block 1 has counts 6, 3, 1 and block 2 counts 1, 1, 8
    codes = np.zeros((10, 3), dtype=np.int32)
    codes[:, 1] = [0] * 6 + [1] * 3 + [2]
    codes[:, 2] = [0, 1] + [2] * 8
    return ConditionalSampler(codes, [2, 3, 3], [1, 2], log_frequency=True, device=torch.device("cpu"))


def test_true_columns_search_the_flat_cdf_of_block_then_category_by_frequency():
    sampler = _sampler()
    assert sampler.count.tolist() == [6, 3, 1, 1, 1, 8]
    # Each block has half the mass, shared by its counts: cumulative 0.3 0.45 0.5 | 0.55 0.6 1
    u = torch.tensor([0.0, 0.299, 0.301, 0.449, 0.451, 0.499, 0.501, 0.549, 0.551, 0.599, 0.601, 0.999999],
                     dtype=torch.float64)
    assert sampler.true_columns(u).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_true_columns_follow_the_frequencies_over_many_draws():
    sampler = _sampler()
    columns = sampler.true_columns(uniform_doubles(np.random.SFC64(0), 200_000))
    share = np.bincount(columns.numpy(), minlength=6) / 200_000
    assert np.allclose(share, [0.3, 0.15, 0.05, 0.05, 0.05, 0.4], atol=0.005)


def test_uniform_doubles_have_53_bits_and_fill_the_unit_interval():
    u = uniform_doubles(np.random.SFC64(2), 100_000).numpy()
    assert u.dtype == np.float64 and u.min() >= 0 and u.max() < 1
    assert np.all(u * 2**53 == np.floor(u * 2**53))
    assert abs(u.mean() - 0.5) < 0.005 and abs(np.mean(u < 0.1) - 0.1) < 0.005
