import math

import numpy as np
import pytest
import torch

from synth import networks
from synth.networks import (
    BlockLayout,
    ChainLikelihood,
    Discriminator,
    FrozenGenerator,
    Generator,
    gradient_penalty,
    information_loss,
)


@pytest.mark.parametrize("cond_dim", [0, 5])
@pytest.mark.parametrize("pass_rows", [2048, 16])  # 16: 50 rows go through in passes, the last one short
def test_frozen_generator_computes_the_eval_mode_generator(cond_dim, pass_rows, monkeypatch):
    monkeypatch.setattr(networks, "CPU_PASS_ROWS", pass_rows)
    torch.manual_seed(0)
    generator = Generator(15 + cond_dim, (16, 8), 12, cond_dim=cond_dim)
    generator.train()
    for _ in range(3):  # give batch norm running statistics that are not the identity
        generator(torch.randn(64, 15 + cond_dim) * 3 + 1)
    generator.eval()
    noise, cond = torch.randn(50, 15), torch.randint(5, (50,)) if cond_dim else None
    x = noise if cond is None else torch.cat([noise, torch.nn.functional.one_hot(cond, cond_dim).float()], dim=1)
    with torch.no_grad():
        expected = generator(x)
    assert torch.allclose(FrozenGenerator(generator, torch.float32)(noise, cond), expected, atol=1e-5)
    assert torch.allclose(FrozenGenerator(generator, torch.bfloat16)(noise, cond), expected, atol=0.1, rtol=0.05)
    # Columns reordered and offset, as sampling asks for them (BlockLayout.draw_rows, the biases)
    rows, offset = torch.randperm(12), torch.randn(12) * 5
    moved = expected.index_select(1, rows) + offset
    assert torch.allclose(FrozenGenerator(generator, torch.float32, rows, offset)(noise, cond), moved, atol=1e-5)
    assert torch.allclose(FrozenGenerator(generator, torch.bfloat16, rows, offset)(noise, cond), moved,
                          atol=0.1, rtol=0.05)
    # The first 4 columns (the scalars) from a float32 last layer, the rest as before; in float32 `exact` changes
    # nothing.
    exact = FrozenGenerator(generator, torch.bfloat16, rows, offset, exact=4)(noise, cond)
    assert torch.allclose(exact, moved, atol=0.1, rtol=0.05)
    assert torch.equal(exact[:, 4:], FrozenGenerator(generator, torch.bfloat16, rows, offset)(noise, cond)[:, 4:])
    assert torch.equal(FrozenGenerator(generator, torch.float32, rows, offset, exact=4)(noise, cond),
                       FrozenGenerator(generator, torch.float32, rows, offset)(noise, cond))


def test_scalars_sampled_in_bfloat16_are_not_on_its_lattice():
    """bfloat16 keeps 8 bits of mantissa: a column's values straight out of it fall on a few hundred points. The
    scalars come from a float32 last layer, so each row's is its own."""
    torch.manual_seed(0)
    generator = Generator(32, (64, 64), 6).eval()
    noise = torch.randn(5000, 32)
    coarse = FrozenGenerator(generator, torch.bfloat16)(noise, None)
    fine = FrozenGenerator(generator, torch.bfloat16, exact=2)(noise, None)
    assert coarse[:, 0].unique().numel() < 2500  # half the rows share a value with another
    assert fine[:, 0].unique().numel() > 4900 and fine[:, 1].unique().numel() > 4900
    assert fine[:, 2].unique().numel() < 2500  # the logits stay in bfloat16


def test_draw_follows_each_blocks_softmax_with_its_bias():
    widths = [3, 2, 3, 5]  # blocks 0 and 2 share a draw bucket, so buckets are not in layout order
    layout = BlockLayout(1, widths, torch.device("cpu"))
    logits = [torch.tensor(v) for v in ([0.0, 1.0, -1.0], [0.5, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 2.0, -1.0, 0.5])]
    bias = torch.zeros(4, 5)
    bias[0, :3] = torch.tensor([1.0, -1.0, 0.0])
    bias[3, :5] = torch.tensor([0.0, 0.0, -2.0, 1.0, 0.0])
    raw = torch.cat([torch.zeros(1)] + logits).repeat(60_000, 1)
    assert sorted(layout.draw_rows.tolist()) == list(range(layout.width))
    assert torch.equal(layout.draw_rows[layout.undraw_rows], torch.arange(layout.width))
    per_column = torch.cat([bias[b, :w] for b, w in enumerate(widths)])
    offset = layout.draw_offset(per_column)
    assert torch.equal(offset[layout.undraw_rows], torch.cat([torch.zeros(1), per_column]))
    in_draw_order = (raw.index_select(1, layout.draw_rows) + offset).t().contiguous().t()
    codes = layout.draw(in_draw_order, torch.rand(layout.n_blocks, len(in_draw_order)))
    assert codes.shape == (60_000, 4) and codes.dtype == np.int32
    for b, w in enumerate(widths):
        share = torch.tensor(np.bincount(codes[:, b], minlength=w)).float() / len(codes)
        assert torch.allclose(share, torch.softmax(logits[b] + bias[b, :w], 0), atol=0.01), b
    one_hot = layout.activate(raw[:3], torch.Generator().manual_seed(0))
    start = 1
    for w in widths:  # every block a distribution over its own columns
        assert torch.allclose(one_hot[:, start:start + w].sum(1), torch.ones(3), atol=1e-5)
        start += w


def test_decode_gives_the_scalars_tanh_and_the_draws_codes():
    layout = BlockLayout(2, [3, 4, 3], torch.device("cpu"))
    raw = torch.randn(500, layout.width) * 3
    u = torch.rand(layout.n_blocks, 500)
    scalars, codes = layout.decode(raw.t().contiguous().t(), u.clone())  # as the generator returns it
    assert scalars.shape == (500, 2) and scalars.dtype == np.float32
    assert np.allclose(scalars, torch.tanh(raw[:, :2]).numpy(), rtol=0, atol=1e-6)
    assert np.array_equal(codes, layout.draw(raw.t().contiguous().t(), u.clone()))
    assert codes.shape == (500, 3) and codes.max() < 4


@pytest.mark.parametrize("level", [1000.0, -1000.0, 0.0])
def test_draw_is_safe_for_large_logits_and_wide_blocks(level):
    """Logits far above or below zero (exp overflows, or every exp is 0) are drawn as well as those near
    it, and a block wider than 255 columns counts past a byte."""
    layout = BlockLayout(0, [2, 300], torch.device("cpu"))
    raw = torch.full((1000, 302), level - 50.0)
    raw[:, 0], raw[:, 1] = level, level - 1.0
    raw[:, 2 + 280] = level  # block 1: column 280 of 300 takes almost all the weight
    codes = layout.draw(raw.index_select(1, layout.draw_rows), torch.rand(layout.n_blocks, len(raw)))
    share = np.bincount(codes[:, 0], minlength=2) / 1000
    assert abs(share[0] - 1 / (1 + np.exp(-1))) < 0.05
    assert (codes[:, 1] == 280).all()


@pytest.mark.parametrize("cond_dim", [0, 5])
def test_generator_with_looked_up_one_hots_matches_the_dense_input(cond_dim):
    torch.manual_seed(0)
    generator = Generator(8 + cond_dim, (16, 8), 12, cond_dim=cond_dim)
    noise, cond = torch.randn(30, 8), torch.randint(5, (30,)) if cond_dim else None
    dense = noise if cond is None else torch.cat([noise, torch.nn.functional.one_hot(cond, 5).float()], dim=1)
    out = generator.forward_one_hot(noise, cond)
    assert torch.allclose(out, generator(dense), atol=1e-5)
    out.square().sum().backward()
    looked_up = [p.grad.clone() for p in generator.parameters()]
    generator.zero_grad()
    generator(dense).square().sum().backward()
    for a, b in zip(looked_up, (p.grad for p in generator.parameters()), strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def _dense_critic_input(data, cond, cond_dim, pac):
    """A pac group as [its rows' data | their one-hots], the layout the critic's two weights stand for."""
    one_hot = torch.nn.functional.one_hot(cond, cond_dim).float()
    return torch.cat([data.reshape(-1, pac * data.shape[1]), one_hot.reshape(-1, pac * cond_dim)], dim=1)


def _grad(parameter):
    """The gradient, zeros where the loss does not reach (the penalty does not depend on the first bias)."""
    return torch.zeros_like(parameter) if parameter.grad is None else parameter.grad.clone()


def test_critic_penalty_is_the_gradient_norm_over_the_whole_input():
    torch.manual_seed(0)
    data_dim, cond_dim, pac = 6, 4, 2
    critic = Discriminator(data_dim, cond_dim, (16, 8), pac).eval()  # no dropout: both sides see one function
    real, fake, cond = torch.randn(20, data_dim), torch.randn(20, data_dim), torch.randint(cond_dim, (20,))
    part = critic.one_hot_part(cond)
    penalty = gradient_penalty(critic, critic.first_layer(real, part), critic.first_layer(fake, part),
                               torch.Generator().manual_seed(3))
    penalty.backward()
    ours = [_grad(p) for p in critic.parameters()]
    critic.zero_grad()

    # The same penalty by autograd through a dense first layer over the whole input, as CTGAN computes it.
    weight = torch.cat([critic.data_weight.t(), critic.cond_weight.t()], dim=1)
    t = torch.rand(10, 1, generator=torch.Generator().manual_seed(3))
    t = t[:, :, None].expand(10, pac, data_dim).reshape(20, -1)
    mixed = _dense_critic_input(t * real + (1 - t) * fake, cond, cond_dim, pac).requires_grad_(True)
    score = critic.seq(mixed @ weight.t() + critic.bias)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    expected = 10 * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    assert torch.allclose(penalty, expected, atol=1e-5)
    expected.backward()
    for a, b in zip(ours, (_grad(p) for p in critic.parameters()), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    x = _dense_critic_input(real, cond, cond_dim, pac)
    assert torch.allclose(critic(real, critic.one_hot_part(cond)), critic.seq(x @ weight.t() + critic.bias),
                          atol=1e-5)


def test_activation_is_tanh_and_a_gumbel_softmax_per_block_forward_and_backward():
    from synth.networks import _Activation

    widths = [3, 2, 3, 5, 1, 9]  # two padded buckets: 1, 2 and 3 wide blocks to 3; 5 and 9 to 9
    layout = BlockLayout(2, widths, torch.device("cpu"))
    torch.manual_seed(0)
    raw = torch.randn(7, layout.width, dtype=torch.float64, requires_grad=True)
    gumbel = torch.randn(layout._pad_rows.shape[0], 7, dtype=torch.float64)
    # The same noise by layout column: each stacked bucket row is one (block column) unless it is padding.
    noise = torch.zeros(7, layout.width, dtype=torch.float64)
    real_rows = ~layout._pad_rows[:, 0]
    noise[:, layout._bucket_gather[real_rows]] = gumbel[real_rows].t()
    expected, start = [torch.tanh(raw[:, :2])], 2
    for w in widths:
        expected.append(torch.softmax((raw[:, start:start + w] + noise[:, start:start + w]) / 0.2, dim=1))
        start += w
    expected = torch.cat(expected, dim=1)
    assert torch.allclose(_Activation.apply(raw, gumbel, layout, 0.2), expected)
    weights = torch.randn_like(expected)
    (ours,) = torch.autograd.grad((_Activation.apply(raw, gumbel, layout, 0.2) * weights).sum(), raw)
    (reference,) = torch.autograd.grad((expected * weights).sum(), raw)
    assert torch.allclose(ours, reference)
    assert torch.autograd.gradcheck(lambda r: _Activation.apply(r, gumbel, layout, 0.2), (raw,))


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_dropout_keeps_each_unit_independently_with_probability_one_minus_p(p):
    from synth.networks import Dropout

    torch.manual_seed(0)
    dropout = Dropout(p)
    out = dropout(torch.ones(1000, 999))  # an odd size: the last 64-bit draw is only partly used
    kept = out != 0
    assert torch.all(out[kept] == 1 / (1 - p))
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005
    # Neighbours in a row and across rows agree as often as independent units would.
    agree = 1 - 2 * p * (1 - p)
    assert abs((kept[:, 1:] == kept[:, :-1]).float().mean().item() - agree) < 0.005
    assert abs((kept[1:] == kept[:-1]).float().mean().item() - agree) < 0.005
    assert torch.equal(dropout.eval()(out), out)


def test_training_buckets_trade_padding_against_their_number():
    from synth.networks import _padded_widths

    assert _padded_widths([4, 4, 4]) == {4: 4}
    # Two blocks 1 apart share a bucket (1 padded row is cheaper than a bucket); 2 and 40 do not.
    assert _padded_widths([2, 3, 40], bucket_cost=8) == {2: 3, 3: 3, 40: 40}
    # Each block its own bucket when buckets are free; one bucket when they are dear.
    assert _padded_widths([2, 5, 9], bucket_cost=0) == {2: 2, 5: 5, 9: 9}
    assert _padded_widths([2, 5, 9], bucket_cost=100) == {2: 9, 5: 9, 9: 9}


@pytest.mark.parametrize("hidden", [(16,), (16, 8), (16, 8, 4)])
@pytest.mark.parametrize("cond_dim", [0, 4])
def test_written_out_penalty_matches_autograds_double_backward_with_dropout(hidden, cond_dim):
    torch.manual_seed(0)
    critic = Discriminator(6, cond_dim, hidden, 2).double().train()
    real_first, fake_first = torch.randn(10, hidden[0], dtype=torch.float64), torch.randn(10, hidden[0],
                                                                                           dtype=torch.float64)
    torch.manual_seed(1)  # the dropout masks: both sides draw the same ones in the same order
    penalty = gradient_penalty(critic, real_first, fake_first, torch.Generator().manual_seed(3))
    penalty.backward()
    ours = [_grad(p) for p in critic.parameters()]
    critic.zero_grad()

    torch.manual_seed(1)
    t = torch.rand(10, 1, generator=torch.Generator().manual_seed(3))  # float32, as gradient_penalty draws it
    mixed = (t * real_first + (1 - t) * fake_first).requires_grad_(True)
    (delta,) = torch.autograd.grad(critic.seq(mixed).sum(), mixed, create_graph=True)
    squares = (delta @ critic.data_weight.t()).square().sum(1)
    if cond_dim:
        squares = squares + (delta @ critic.cond_weight.t()).square().sum(1)
    expected = 10 * ((squares.sqrt() - 1) ** 2).mean()
    assert torch.allclose(penalty, expected)
    expected.backward()
    for a, b in zip(ours, (_grad(p) for p in critic.parameters()), strict=True):
        assert torch.allclose(a, b)
    assert any(g.abs().sum() > 0 for g in ours)


def test_accelerator_draw_matches_the_numpy_draw():
    """The torch draw (what runs on CUDA) and the numpy one (the CPU's) pick the same categories from the
    same logits and uniforms, but for float rounding at a boundary."""
    logits = torch.randn(7, 3, 20_000) * 3
    u = torch.rand(3, 20_000)
    by_numpy = networks._draw_numpy(logits.clone().numpy(), u.clone().numpy())
    by_torch = networks._draw_torch(logits.clone(), u.clone())
    assert by_numpy.shape == by_torch.shape == (3, 20_000)
    assert (by_numpy == by_torch).mean() > 0.999


def test_the_chain_mask_joins_each_column_only_to_later_blocks():
    layout = BlockLayout(1, [2, 1, 2], torch.device("cpu"))
    assert layout.chain_mask.tolist() == [[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0],
                                          [0, 0, 0, 0, 0]]


def test_the_chain_likelihood_of_real_rows_against_hand_worked_values():
    layout = BlockLayout(1, [2, 3], torch.device("cpu"))  # one scalar, then blocks of 2 and 3 categories
    codes = torch.tensor([[0, 2], [1, 0]])
    likelihood = ChainLikelihood(layout)
    chain = torch.zeros(5, 5, requires_grad=True)
    # Zero weights and biases: each block uniform, so each row costs log 2 + log 3.
    assert likelihood(layout, chain, codes).item() == pytest.approx(math.log(2) + math.log(3))
    # A shift of 3 from the first row's category 0 to its category 2 of the later block: that row's second block
    # costs log(e^3 + 2) - 3; the second row's category 1 shifts nothing.
    with torch.no_grad():
        chain[0, 4] = 3.0
        chain[4, 0] = 50.0  # from a later block to an earlier one: masked, no effect
    want = (2 * math.log(2) + (math.log(math.exp(3) + 2) - 3) + math.log(3)) / 2
    assert likelihood(layout, chain, codes).item() == pytest.approx(want)
    # The biases shift a category in every row: a bias of 1 on block one's category 1.
    with torch.no_grad():
        likelihood.bias[1] = 1.0
    want_bias = want + (math.log(math.e + 1) - math.log(2) + math.log(math.e + 1) - 1 - math.log(2)) / 2
    assert likelihood(layout, chain, codes).item() == pytest.approx(want_bias)
    # Its gradient reaches only the weights from earlier to later blocks, and the biases.
    likelihood(layout, chain, codes).backward()
    assert torch.all(chain.grad[layout.chain_mask == 0] == 0)
    assert chain.grad[layout.chain_mask == 1].abs().sum() > 0
    assert likelihood.bias.grad.abs().sum() > 0


def test_the_written_out_chain_likelihood_gradient_matches_autograd():
    layout = BlockLayout(2, [3, 1, 4, 2], torch.device("cpu"))
    likelihood = ChainLikelihood(layout)
    codes = torch.stack([torch.randint(w, (30,)) for w in (3, 1, 4, 2)], dim=1)
    one_hot = torch.zeros(30, 10, dtype=torch.float64).scatter_(1, codes + (layout.offsets - 2), 1.0)
    bias = torch.randn(10, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(10, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b, w: networks._ChainLikelihood.apply(
        b, w, one_hot, codes, likelihood.gather, layout.pad, likelihood.place), (bias, weight))


def test_a_zero_chain_draws_what_independent_draws_draw():
    layout = BlockLayout(2, [3, 4, 3, 2], torch.device("cpu"))
    raw = (torch.randn(2000, layout.width) * 3).t().contiguous().t()  # as the generator returns it
    u = torch.rand(layout.n_blocks, 2000)
    chain = torch.zeros(12, 12)
    _, independent = layout.decode(raw.clone(), u.clone())
    _, chained = layout.decode(raw.clone(), u.clone(), chain)
    assert (chained == independent).mean() > 0.999  # the same inverse CDF; only float rounding at a boundary


def test_the_chain_shifts_a_later_block_by_the_category_drawn_before_it():
    # Two 2-wide blocks after one scalar, all logits 0. Category 0 of block 0 forbids category 1 of block 1.
    layout = BlockLayout(1, [2, 2], torch.device("cpu"))
    chain = torch.zeros(4, 4)
    chain[0, 3] = -40.0
    rows = 40_000
    means = torch.zeros(2, 2)
    codes = layout.draw_chained(torch.zeros(layout.width, rows), torch.rand(2, rows), chain, means)
    assert codes.shape == (rows, 2) and codes.dtype == np.int32
    first, second = codes[:, 0], codes[:, 1]
    assert not np.any((first == 0) & (second == 1))
    assert abs(np.mean(second[first == 1]) - 0.5) < 0.02  # untouched after category 1
    # Block 1's mean probabilities: half the rows [1, 0], half [0.5, 0.5].
    assert torch.allclose(means, torch.tensor([[0.5, 0.5], [0.75, 0.25]]), atol=0.01)
    # Given category 1 of block 1 (one-hot column 3), block 0 is drawn knowing it: never category 0.
    given = torch.full((rows,), 3)
    codes = layout.draw_chained(torch.zeros(layout.width, rows), torch.rand(2, rows), chain, given=given)
    assert not np.any(codes[:, 0] == 0)


def test_the_chained_activation_learns_only_the_weights_to_later_blocks():
    layout = BlockLayout(2, [3, 2, 4], torch.device("cpu"))
    raw = torch.randn(64, layout.width, requires_grad=True)
    chain = torch.zeros(9, 9, requires_grad=True)
    fake, logits = layout.activate_chained(raw, torch.Generator().manual_seed(0), chain)
    assert fake.shape == logits.shape == raw.shape
    assert torch.allclose(fake[:, :2], raw[:, :2].tanh())
    for start, _, w in layout.spans:  # every block a distribution over its own columns
        assert torch.allclose(fake[:, start:start + w].sum(1), torch.ones(64), atol=1e-5)
    assert torch.equal(logits, raw)  # a zero chain shifts nothing
    (fake[:, 2:] * torch.randn(64, 9)).sum().backward()
    assert chain.grad[layout.chain_mask == 1].abs().sum() > 0
    assert torch.all(chain.grad[layout.chain_mask == 0] == 0)


def _chained_by_autograd(layout, raw, gumbel, chain, given, tau=0.2):
    """The chained activation as plain autograd ops: the reference for the written-out one."""
    weight = chain * layout.chain_mask
    samples, logits = [], []
    for start, offset, w in layout.spans:
        x = raw[:, start:start + w] + weight[offset:offset + w, given].t()  # the given category's pair weights
        if offset:
            x = x + torch.cat(samples, dim=1) @ weight[:offset, offset:offset + w]
        logits.append(x)
        samples.append(torch.softmax((x + gumbel[:, offset:offset + w]) / tau, dim=1))
    scalars = raw[:, : layout.n_scalars]
    return torch.cat([scalars.tanh()] + samples, dim=1), torch.cat([scalars] + logits, dim=1)


def test_the_written_out_chained_activation_matches_autograd_forward_and_backward():
    from synth.networks import _ChainedActivation

    layout = BlockLayout(2, [3, 2, 4, 1], torch.device("cpu"))
    torch.manual_seed(0)
    raw = torch.randn(6, layout.width, dtype=torch.float64, requires_grad=True)
    chain = torch.randn(10, 10, dtype=torch.float64, requires_grad=True)
    gumbel = torch.randn(6, 10, dtype=torch.float64)
    given = torch.tensor([9, 5, 6, 0, 4, 7])  # a condition in each block, and in the first, where it shifts nothing
    mask = layout.chain_mask.double()
    layout.chain_mask = mask
    ours = _ChainedActivation.apply(raw, gumbel, chain * mask, given, layout, 0.2)
    reference = _chained_by_autograd(layout, raw, gumbel, chain, given)
    for a, b in zip(ours, reference, strict=True):
        assert torch.allclose(a, b)
    w_out, w_logits = torch.randn_like(ours[0]), torch.randn_like(ours[1])
    got = torch.autograd.grad((ours[0] * w_out).sum() + (ours[1] * w_logits).sum(), (raw, chain))
    want = torch.autograd.grad((reference[0] * w_out).sum() + (reference[1] * w_logits).sum(), (raw, chain))
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b)
    assert torch.autograd.gradcheck(
        lambda r, c: _ChainedActivation.apply(r, gumbel, c * mask, given, layout, 0.2), (raw, chain))


def test_information_loss_is_the_distance_of_the_feature_means_plus_that_of_their_spreads():
    real = torch.tensor([[0.0, 2.0], [2.0, 2.0]])  # means (1, 2), spreads (sqrt 2, 0)
    fake = torch.tensor([[4.0, 5.0], [4.0, 9.0]])  # means (4, 7), spreads (0, sqrt 8)
    expected = math.hypot(3.0, 5.0) + math.hypot(math.sqrt(2.0), math.sqrt(8.0))
    assert information_loss(fake, real).item() == pytest.approx(expected, rel=1e-6)
    assert information_loss(real, real).item() == 0.0


def test_the_critics_features_and_score_make_its_forward():
    torch.manual_seed(0)
    critic = Discriminator(data_dim=5, cond_dim=3, hidden=(8, 6), pac=2).eval()
    data, cond = torch.randn(4, 5), torch.tensor([0, 2, 1, 1])
    part = critic.one_hot_part(cond)
    features = critic.features(data, part)
    assert features.shape == (2, 6)
    torch.testing.assert_close(critic.score(features), critic(data, part))
