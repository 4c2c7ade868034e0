"""Differential privacy (synth.dp): the per-group gradients against the ordinary critic's, the accountant's
figures against dp_accounting's own, training that spends the budget by its last epoch, a budget too small for
one epoch refused before anything is released, the released statistics (bounds, bins, public domains) and the
pair tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from dp_accounting import dp_event, rdp
from dp_accounting.privacy_accountant import NeighboringRelation

from synth import SynthError, Synthesizer, dp
from synth.config import Config
from synth.networks import Discriminator, gradient_penalty
from synth.protect import MARKER


def _critic(cond_dim: int, seed: int = 0) -> Discriminator:
    torch.manual_seed(seed)
    return Discriminator(data_dim=7, cond_dim=cond_dim, hidden=(16, 12), pac=4).train()


def _ordinary_gradient(disc: Discriminator, real, fake, cond, seed: int) -> dict[str, torch.Tensor]:
    """The gradient of the ordinary critic loss (Synthesizer._critic_update's, with its custom functions)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    disc.zero_grad()
    part = disc.one_hot_part(cond)
    groups = real.shape[0] // disc.pac
    first = disc.first_layer(torch.cat([fake, real]), None if part is None else part.repeat(2, 1))
    scores = disc.seq(first)
    penalty = gradient_penalty(disc, first[groups:], first[:groups], gen)
    (scores[:groups].mean() - scores[groups:].mean() + penalty).backward()
    return {name: torch.zeros_like(p) if p.grad is None else p.grad.clone() for name, p in disc.named_parameters()}


@pytest.mark.parametrize("cond_dim", [0, 5])
def test_per_group_gradients_add_up_to_the_ordinary_gradient(cond_dim):
    disc = _critic(cond_dim)
    groups = 6
    rng = torch.Generator().manual_seed(1)
    real = torch.rand(groups * disc.pac, 7, generator=rng)
    fake = torch.rand(groups * disc.pac, 7, generator=rng)
    cond = torch.randint(cond_dim, (groups * disc.pac,), generator=rng) if cond_dim else None
    expected = _ordinary_gradient(disc, real, fake, cond, seed=3)
    torch.manual_seed(3)
    grads, losses = dp.per_group_gradients(disc, real, fake, cond, torch.Generator().manual_seed(3))
    assert losses.shape == (groups,)
    for name, value in expected.items():
        assert grads[name].shape == (groups, *value.shape)
        torch.testing.assert_close(grads[name].mean(0), value, rtol=1e-4, atol=1e-5, msg=name)
    # Each group's gradient is its own: they differ, and no one of them is the mean.
    flat = torch.cat([g.reshape(groups, -1) for g in grads.values()], dim=1)
    assert torch.linalg.matrix_rank(flat) == groups


@pytest.mark.parametrize("cond_dim", [0, 5])
def test_the_fast_per_group_terms_are_the_plain_per_group_gradients(cond_dim):
    """group_terms (outer products by hand, what training uses) against torch.func's per-group gradients of
    the plain critic, group by group, and their norms without building them."""
    disc = _critic(cond_dim, seed=1)
    groups = 5
    rng = torch.Generator().manual_seed(5)
    real, fake = torch.rand(groups * 4, 7, generator=rng), torch.rand(groups * 4, 7, generator=rng)
    cond = torch.randint(cond_dim, (groups * 4,), generator=rng) if cond_dim else None
    torch.manual_seed(6)
    plain, _ = dp.per_group_gradients(disc, real, fake, cond, torch.Generator().manual_seed(6))
    torch.manual_seed(6)
    terms = dp.group_terms(disc, real, fake, cond, torch.Generator().manual_seed(6))
    fast = dp.materialise(terms)
    for name, value in plain.items():
        if fast[name] is None:  # no one-hot columns: no gradient for their (empty) weight
            assert value.numel() == 0
            continue
        torch.testing.assert_close(fast[name].reshape(value.shape), value, rtol=1e-4, atol=1e-5, msg=name)
    norms = torch.sqrt(sum(g.reshape(groups, -1).square().sum(1) for g in plain.values()))
    torch.testing.assert_close(dp.group_norms(terms), norms, rtol=1e-4, atol=1e-6)


def test_the_private_update_clips_each_group_and_adds_calibrated_noise():
    disc = _critic(5)
    groups = 8
    rng = torch.Generator().manual_seed(2)
    real, fake = torch.rand(groups * 4, 7, generator=rng), torch.rand(groups * 4, 7, generator=rng)
    cond = torch.randint(5, (groups * 4,), generator=rng)
    before = {n: p.detach().clone() for n, p in disc.named_parameters()}
    privacy = dp.Privacy(epsilon=1.0, delta=1e-6, noise_multiplier=0.0 + 1e-9, max_grad_norm=1e-3)

    class Keep(torch.optim.SGD):  # records the gradient the update hands the optimiser
        def step(self, closure=None):  # noqa: ANN001, ANN201
            self.seen = {n: p.grad.clone() for n, p in disc.named_parameters()}

    opt = Keep(disc.parameters(), lr=0.0)
    torch.manual_seed(4)
    dp.private_critic_update(disc, opt, real, fake, cond, torch.Generator().manual_seed(4), privacy)
    total = torch.sqrt(sum(g.square().sum() for g in opt.seen.values()))
    assert total <= 1e-3 + 1e-9  # the mean of groups clipped to 1e-3, noise negligible
    assert total > 1e-4
    noisy = dp.Privacy(epsilon=1.0, delta=1e-6, noise_multiplier=2.0, max_grad_norm=1e-3)
    dp.private_critic_update(disc, opt, real, fake, cond, torch.Generator().manual_seed(4), noisy)
    spread = torch.cat([g.flatten() for g in opt.seen.values()]).std().item()
    assert spread == pytest.approx(2.0 * 2 * 1e-3 / groups, rel=0.1)  # noise sd 2C sigma, over the groups
    assert all(torch.equal(before[n], p) for n, p in disc.named_parameters())  # lr 0: nothing else moved


def _statistics(budget: dp.Budget) -> list:
    """The statistics releases as dp_accounting's events: stage 1, its zoom, stage 2."""
    return [dp_event.GaussianDpEvent(dp.BOUNDS_NOISE * budget.stats),
            dp_event.GaussianDpEvent(dp.ZOOM_NOISE * budget.stats), dp_event.GaussianDpEvent(budget.stats)]


def test_the_budget_matches_dp_accountings_own_figures():
    privacy = dp.Privacy(epsilon=2.0, delta=1e-6, noise_multiplier=3.0, max_grad_norm=1.0)
    budget = dp.Budget(privacy, n_rows=5000, batch=500, steps=40)
    accountant = rdp.RdpAccountant(orders=list(dp.ORDERS), neighboring_relation=NeighboringRelation.REPLACE_ONE)
    accountant.compose(dp_event.ComposedDpEvent(_statistics(budget)))
    accountant.compose(dp_event.SelfComposedDpEvent(
        dp_event.SampledWithoutReplacementDpEvent(5000, 500, dp_event.GaussianDpEvent(3.0)), 40))
    assert budget.epsilon() == pytest.approx(accountant.get_epsilon(privacy.delta_rdp), rel=1e-9)
    # The statistics alone cost the share of epsilon they were calibrated to.
    alone = rdp.RdpAccountant(orders=list(dp.ORDERS), neighboring_relation=NeighboringRelation.REPLACE_ONE)
    alone.compose(dp_event.ComposedDpEvent(_statistics(budget)))
    assert alone.get_epsilon(privacy.delta_rdp) == pytest.approx(dp.STATS_SHARE * 2.0, rel=2e-3)
    steps = budget.affordable(10_000)
    assert budget.epsilon(steps) <= 2.0 < budget.epsilon(steps + 1)


def test_the_pair_tables_are_accounted_as_two_more_releases():
    privacy = dp.Privacy(epsilon=2.0, delta=1e-6, noise_multiplier=3.0, max_grad_norm=1.0)
    budget = dp.Budget(privacy, n_rows=5000, batch=500, steps=40, pairs=True)
    accountant = rdp.RdpAccountant(orders=list(dp.ORDERS), neighboring_relation=NeighboringRelation.REPLACE_ONE)
    first, second = (dp_event.GaussianDpEvent(m) for m in budget.pair_noises)
    assert budget.pair_noises[0] > budget.pair_noises[1]  # the first release, read only to choose, is the noisier
    accountant.compose(dp_event.ComposedDpEvent(_statistics(budget) + [first, second]))
    accountant.compose(dp_event.SelfComposedDpEvent(
        dp_event.SampledWithoutReplacementDpEvent(5000, 500, dp_event.GaussianDpEvent(3.0)), 40))
    assert budget.epsilon() == pytest.approx(accountant.get_epsilon(privacy.delta_rdp), rel=1e-9)
    alone = rdp.RdpAccountant(orders=list(dp.ORDERS), neighboring_relation=NeighboringRelation.REPLACE_ONE)
    alone.compose(dp_event.ComposedDpEvent([first, second]))
    assert alone.get_epsilon(privacy.delta_rdp) == pytest.approx(dp.PAIRS_SHARE * 2.0, rel=2e-3)
    # The first release alone costs FIRST_SHARE of what the two cost, in RDP at every order.
    once = rdp.RdpAccountant(orders=list(dp.ORDERS), neighboring_relation=NeighboringRelation.REPLACE_ONE)
    once.compose(first)
    assert np.asarray(once.rdp) == pytest.approx(dp.FIRST_SHARE * np.asarray(alone.rdp), rel=1e-9)
    assert budget.epsilon() > dp.Budget(privacy, n_rows=5000, batch=500, steps=40).epsilon()


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    from tests.synth.conftest import read_dataset

    return read_dataset("adult", 3000)[["age", "workclass", "education", "sex", "hours-per-week", "native-country",
                                        "income"]]


TINY = {"embedding_dim": 16, "generator_dim": (32,), "discriminator_dim": (32,), "batch_size": 500}


def test_training_spends_the_budget_by_its_last_epoch(small, tmp_path):
    seen = []
    privacy = {"epsilon": 2.0, "delta": 1e-6, "noise_multiplier": 3.0}
    model = Synthesizer(epochs=30, seed=0, privacy=privacy, **TINY)
    model.fit(small, on_epoch=seen.append)
    assert model.epochs_done == 30  # the critic's steps are spread over every epoch
    spent = [info.epsilon for info in seen]
    assert all(a <= b for a, b in zip(spent, spent[1:], strict=False)) and spent[0] < spent[-1] <= 2.0
    budget = dp.Budget(dp.Privacy.of(privacy), 3000, 500, model.privacy_spent["critic_steps"], pairs=True)
    assert budget.epsilon(budget.steps + 1) > 2.0  # one more critic step would have passed it
    assert model.privacy_spent["epsilon"] == pytest.approx(spent[-1], abs=1e-6)
    assert model.privacy_spent["pair_tables_noise_multipliers"] == pytest.approx(list(budget.pair_noises))
    assert "discriminator" not in seen[-1].losses  # the critic's loss reads real rows
    assert 0 <= seen[-1].losses["pairs"] <= 1  # the released tables' distance: post-processing
    model.save(tmp_path)
    stored = json.loads((tmp_path / "model.json").read_text())
    assert stored["privacy"]["epsilon"] == pytest.approx(spent[-1], abs=1e-6)
    assert stored["privacy"]["delta"] == 1e-6
    assert stored["transformer"]["derived"] == []
    rows = Synthesizer.load(tmp_path).sample(2000, seed=1)
    assert list(rows.columns) == list(small.columns)
    assert rows["age"].between(0, 200).all()
    # Only categories whose noisy count passed the threshold: the rare countries become the marker.
    countries = set(rows["native-country"])
    assert countries <= set(small["native-country"]) | {MARKER}
    counts = small["native-country"].value_counts()
    assert not countries & set(counts.index[counts < 50])


def test_a_checkpoint_resumes_the_accounting(small, tmp_path):
    privacy = {"epsilon": 3.0, "delta": 1e-6}
    model = Synthesizer(epochs=2, seed=0, privacy=privacy, **TINY).fit(small)
    model.save_checkpoint(tmp_path)
    resumed = Synthesizer.from_checkpoint(tmp_path)
    assert resumed._budget.steps == model._budget.steps
    assert bool(resumed._pair_loss.filled)  # the released tables come back with the checkpoint, not re-released
    assert torch.equal(resumed._pair_loss.target, model._pair_loss.target)
    resumed.config.epochs = 3
    resumed.fit(small)
    assert resumed._budget.steps > model._budget.steps
    assert resumed.privacy_spent["epsilon"] > model.privacy_spent["epsilon"]
    assert resumed.privacy_spent["epsilon"] <= 3.0


def test_a_budget_that_cannot_buy_one_epoch_is_refused_before_training(small):
    config = Config(batch_size=500, privacy={"epsilon": 0.05, "delta": 1e-6})
    with pytest.raises(SynthError, match="cannot buy one epoch"):
        dp.check_budget(3000, config)
    model = Synthesizer(epochs=5, privacy={"epsilon": 0.05, "delta": 1e-6}, **TINY)
    with pytest.raises(SynthError, match="cannot buy one epoch"):
        model.fit(small)
    assert model.transformer is None  # nothing was released
    dp.check_budget(3000, Config(batch_size=500, privacy={"epsilon": 3.0, "delta": 1e-6}))


@pytest.mark.parametrize("privacy, message", [
    ({"epsilon": 0, "delta": 1e-6}, "epsilon must be above 0"),
    ({"epsilon": 1.0, "delta": 1.0}, "delta must be above 0 and below 1"),
    ({"epsilon": 1.0}, "privacy.delta is required"),
    ({"epsilon": 1.0, "delta": 1e-6, "sigma": 2}, "unknown key"),
    ({"epsilon": "1", "delta": 1e-6}, "must be a number"),
    ([1.0, 1e-6], "must be an object"),
])
def test_privacy_settings_are_checked(privacy, message):
    with pytest.raises(SynthError, match=message):
        Synthesizer(privacy=privacy)


def test_no_privacy_is_the_default_and_costs_nothing():
    assert Config().privacy is None
    assert dp.STATS_SHARE + dp.PAIRS_SHARE < 1  # the critic's DP-SGD keeps a share of every budget


def test_the_bulk_of_a_thin_column_is_found_where_one_far_bin_is_the_fullest():
    edges = np.arange(0.0, 41.0)  # 41 edges: 42 bins, the outer two open
    counts = np.zeros(42)
    counts[10:26] = 120.0  # a column spread thinly over 16 bins, each below twice the noise of 100
    counts[38] = 330.0  # noise alone filled a far bin: the fullest single one, yet below the 1e-3 threshold
    low, high = dp._bounds(counts, edges, 100.0)
    assert (low, high) == (9.0, 25.0)  # bins 10 to 25 lie between edges 9 and 25
    assert dp._bounds(np.eye(1, 42, 20).ravel() * 1000, edges, 100.0) == (19.0, 20.0)


def test_a_column_narrow_on_the_coarse_grid_is_zoomed_into():
    assert dp._narrow(4096.0, 5792.6) and dp._narrow(-64.0, -32.0)
    assert not dp._narrow(-2.0, 1.4) and not dp._narrow(1.0, 5.7) and not dp._narrow(0.0, 10.0)
    rng = np.random.default_rng(0)
    staff = rng.normal(5100, 50, 3000)  # a head count near 5,100: inside one bin of the coarse grid
    low, high = dp._zoomed(staff, 4096.0, 5792.6, 50.0, rng)
    assert 4096 < low <= 5000 and 5200 <= high < 5792.6
    assert high - low < 0.25 * (5792.6 - 4096)
    assert dp._zoomed(rng.uniform(4096, 5792.6, 30_000), 4096.0, 5792.6, 50.0, rng) is None  # spread evenly
    assert dp._zoomed(staff, 4096.0, 5792.6, 1e4, rng) is None  # no bin stands above the noise


def test_a_narrow_columns_fine_bins_lie_where_its_rows_are(small):
    from synth.schema import infer_schema

    # A head count near 5,100, its quartiles 14 apart: stage 1's grid puts it between 4,096 and 5,793, where
    # stage 2's 14 bins alone (at epsilon 1 on 3,000 rows) would be 120 wide.
    frame = small.assign(staff=np.random.default_rng(0).normal(5100, 10, len(small)))
    config = Config(batch_size=100, privacy={"epsilon": 1.0, "delta": 1e-6})
    t, _ = dp.fit_private(infer_schema(frame), frame, config, dp.check_budget(len(frame), config), seed=0)
    enc = t.continuous[t.blocks[t.block_of("staff")][1]]
    quantiles = enc.mean + enc.std * np.asarray(enc.quantiles)
    quarter = len(quantiles) // 4
    real = np.quantile(frame["staff"], [0.25, 0.75])
    assert np.abs([quantiles[quarter] - real[0], quantiles[-1 - quarter] - real[1]]).max() < 4


def test_fine_bins_hold_equal_shares_of_the_bulk_stage_1_saw():
    edges = np.arange(0.0, 41.0)  # 42 bins, the outer two open; bin k lies between edges k - 1 and k
    counts = np.zeros(42)
    counts[[21, 22]] = [300.0, 900.0]  # the rows lie between 20 and 22, three times as many above 21
    counts[1] = 800.0  # zeros: stage 2's atom, left out of the bulk
    shares = dp._shares((counts, edges, 10.0), 0.0, 40.0, 6)
    assert shares[0] == 0 and shares[-1] == 40  # a wide bin on each side of the bulk
    np.testing.assert_allclose(shares[1:-1], [20.0, 21.0, 21.0 + 1 / 3, 21.0 + 2 / 3, 22.0])
    assert np.array_equal(dp._shares((np.zeros(42), edges, 10.0), 0.0, 40.0, 4), np.linspace(0, 40, 5))


def test_a_payment_whose_public_range_dwarfs_its_rows_keeps_its_shape(small):
    from synth.schema import infer_schema

    # Payments of a few thousand, a fifth of them 0, with a public range up to 1,000,000 (a bill's limit): stage
    # 2's 14 bins (at epsilon 1 on 3,000 rows) spread evenly over that range would put every payment in one.
    rng = np.random.default_rng(0)
    paid = np.where(rng.random(len(small)) < 0.2, 0.0, np.round(np.exp(rng.normal(7.6, 1.0, len(small)))))
    frame = small.assign(paid=paid)
    config = Config(batch_size=100, privacy={"epsilon": 1.0, "delta": 1e-6, "bounds": {"paid": [0, 1e6]}})
    t, _ = dp.fit_private(infer_schema(frame), frame, config, dp.check_budget(len(frame), config), seed=0)
    enc = t.continuous[t.blocks[t.block_of("paid")][1]]
    released = enc.mean + enc.std * np.asarray(enc.quantiles)
    grid = np.linspace(0, 1, len(released))
    for q in (0.5, 0.75, 0.9):  # the released quantiles are within a factor of 2 of the real ones
        assert 0.5 < np.interp(q, grid, released) / np.quantile(paid, q) < 2


def test_a_whole_numbers_rows_stay_in_one_bin():
    from synth.schema import infer_schema

    # Half the rows at 40 hours, half at 41; the fine bins asked for are cut at 39 and 40.03, which would put the
    # rows at 40 in a bin reaching down to 39 (released as 39 as often as 40) and spread those at 41 down to 40.
    frame = pd.DataFrame({"hours": [40] * 1000 + [41] * 1000})
    spec = infer_schema(frame).columns[0]
    spec.minimum, spec.maximum = 1.0, 99.0
    enc = dp._private_continuous(spec, frame["hours"].to_numpy(dtype=float), 1.0, 5, 3, np.random.default_rng(0),
                                 (39.0, 40.03), (np.zeros(3), np.array([0.0, 1.0]), 1.0))
    released = np.rint(enc.mean + enc.std * np.asarray(enc.quantiles))
    assert np.mean(released == 40) == pytest.approx(0.5, abs=0.02)
    assert np.mean(released == 39) == 0


def test_a_few_nulls_that_noise_hides_are_drawn_not_refused(small):
    # Three nulls in 3,000 rows: their count does not pass the noise, so the model keeps no null slot for the
    # column; the rows that hold one are still trained on (a value drawn from the released quantiles).
    frame = small.assign(age=small["age"].astype(float).mask(small.index.isin([5, 50, 500])))
    model = Synthesizer(epochs=1, seed=0, privacy={"epsilon": 2.0, "delta": 1e-6}, **TINY).fit(frame)
    age = model.transformer.continuous[model.transformer.blocks[model.transformer.block_of("age")][1]]
    assert not age.nullable
    assert model.sample(500, seed=0)["age"].notna().all()
    # The value those rows get: a draw from the released quantiles, in years (the real median is 37).
    drawn = age.draw(10_000, np.random.default_rng(0))
    assert abs(np.median(drawn) - frame["age"].median()) < 3
    spec = next(s for s in model.schema.columns if s.name == "age")
    assert spec.minimum - 1e-9 <= drawn.min() and drawn.max() <= spec.maximum + 1e-9  # the released bounds


def test_histograms_get_as_many_bins_as_the_noise_allows():
    assert dp.fine_bins(100_000, 10.0) == dp.FINE_BINS
    assert dp.fine_bins(2_100, 68.0) == 7  # 2,100 rows / (4 * 68)
    assert dp.fine_bins(200, 68.0) == dp.MIN_BINS


def test_few_integers_become_categories_and_noise_adds_no_null(small):
    from synth.schema import infer_schema

    schema = infer_schema(small)
    config = Config(batch_size=500, privacy={"epsilon": 50.0, "delta": 1e-6})
    frame = small.assign(hours=np.clip(small["hours-per-week"] // 10, 1, 6))
    schema = infer_schema(frame)
    t, _ = dp.fit_private(schema, frame, config, dp.check_budget(len(frame), config), seed=0)
    hours = t.discrete[t.blocks[t.block_of("hours")][1]]
    assert set(hours.categories) <= set(range(1, 7)) and len(hours.categories) >= 4
    assert all(None not in enc.categories for enc in t.discrete)  # no column has nulls: none is released


def test_public_values_and_bounds_replace_what_noise_would_hide(small):
    rare = small["native-country"].value_counts().index[-1]  # held by a row or two
    public = {"epsilon": 2.0, "delta": 1e-6, "categories": {"native-country": [rare, " United-States"]},
              "bounds": {"age": [17, 90]}}
    model = Synthesizer(epochs=2, seed=0, privacy=public, **TINY).fit(small)
    country = model.transformer.discrete[model.transformer.blocks[model.transformer.block_of("native-country")][1]]
    assert " United-States" in country.categories
    assert set(country.categories) <= {rare, " United-States", MARKER}  # the rest of the countries: the marker
    assert MARKER in country.categories  # a tenth of the rows are from other countries: their bin passes
    age = next(s for s in model.schema.columns if s.name == "age")
    assert (age.minimum, age.maximum) == (17.0, 90.0)
    with pytest.raises(SynthError, match=r"privacy.categories names \['nope'\], not categorical or boolean"):
        Synthesizer(epochs=1, privacy={**public, "categories": {"nope": ["a"]}}, **TINY).fit(small)
    with pytest.raises(SynthError, match=r"privacy.bounds names \['sex'\], not continuous or integer"):
        Synthesizer(epochs=1, privacy={**public, "bounds": {"sex": [0, 1]}}, **TINY).fit(small)


def test_a_public_domain_of_two_values_keeps_both_when_noise_takes_one_down():
    from synth.schema import infer_schema

    # A target with a 5% class (100 rows) under a noise of 200 a count: its noisy count falls under the bar
    # that empties a bin, and the column would become a constant, with no link left to any other column.
    frame = pd.DataFrame({"y": ["no"] * 2000 + ["yes"] * 100})
    spec = infer_schema(frame).columns[0]
    for seed in range(5):
        enc = dp._private_discrete(spec, frame["y"], 200.0, 1e9, len(frame), Config(), np.random.default_rng(seed),
                                   ["no", "yes"])
        assert set(enc.categories) == {"no", "yes"}
        assert 0.01 < enc.frequencies[enc.categories.index("yes")] < 0.5
    # Without a public domain the values are data: one that does not pass the threshold is never released.
    enc = dp._private_discrete(spec, frame["y"], 200.0, 1e9, len(frame), Config(), np.random.default_rng(0))
    assert "yes" not in enc.categories and "no" not in enc.categories


@pytest.mark.parametrize("privacy, message", [
    ({"epsilon": 1.0, "delta": 1e-6, "categories": {"sex": []}}, "must be a list of 1 to"),
    ({"epsilon": 1.0, "delta": 1e-6, "categories": {"sex": ["a", "a"]}}, "more than once"),
    ({"epsilon": 1.0, "delta": 1e-6, "categories": ["sex"]}, "must be an object"),
    ({"epsilon": 1.0, "delta": 1e-6, "bounds": {"age": [90, 17]}}, "low below high"),
    ({"epsilon": 1.0, "delta": 1e-6, "bounds": {"age": [0, float("inf")]}}, "two finite numbers"),
])
def test_public_domains_are_checked(privacy, message):
    with pytest.raises(SynthError, match=message):
        Synthesizer(privacy=privacy)


def test_the_released_pair_tables_keep_a_strong_link_and_drop_what_noise_hides():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 5000)
    codes = np.stack([a, a, rng.integers(0, 2, 5000)], axis=1).astype(np.int32)
    loose = dp.Budget(dp.Privacy(epsilon=50.0, delta=1e-6, noise_multiplier=3.0, max_grad_norm=1.0), 5000, 500,
                      pairs=True)
    shares, weight = dp.release_pairs(codes, [2, 2, 2], loose, seed=0)[(0, 1)]
    assert weight > 0.99 and shares[0, 1] + shares[1, 0] < 0.01  # the two columns always agree
    # At epsilon 0.5 the noise (sd about 30 rows a cell) is far above the independent pairs' chance departures:
    # they keep little weight, the strong link nearly all of it.
    tight = dp.Budget(dp.Privacy(epsilon=0.5, delta=1e-6, noise_multiplier=3.0, max_grad_norm=1.0), 5000, 500,
                      pairs=True)
    runs = [dp.release_pairs(codes, [2, 2, 2], tight, seed=seed) for seed in range(5)]
    assert min(run[(0, 1)][1] for run in runs) > 0.95
    assert np.mean([run[pair][1] for run in runs for pair in ((0, 2), (1, 2))]) < 0.3


def test_a_named_targets_tables_are_taught_as_released_and_weighted_as_shrunk(monkeypatch):
    import synth.pairs

    calls = []
    original = synth.pairs.shrink
    monkeypatch.setattr(synth.pairs, "shrink", lambda counts, n, noise: calls.append((counts, noise)) or
                        original(counts, n, noise))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 500)
    codes = np.stack([a, np.where(rng.random(500) < 0.6, a, rng.integers(0, 2, 500)), rng.integers(0, 2, 500)],
                     axis=1).astype(np.int32)
    budget = dp.Budget(dp.Privacy(epsilon=0.5, delta=1e-6, noise_multiplier=3.0, max_grad_norm=1.0), 500, 100,
                       pairs=True)
    out = dp.release_pairs(codes, [2, 2, 2], budget, seed=0, target=1)
    (counts, noise), (target_counts, exact) = calls
    assert exact == 0.0 and set(target_counts) == {pair for pair in counts if 1 in pair}
    shrunk, sharp = original(counts, 500, noise), original(counts, 500, 0.0)
    for pair in counts:
        assert out[pair][1] == shrunk[pair][1]  # every table's weight in the loss: its shrinkage
        np.testing.assert_array_equal(out[pair][0], (sharp if 1 in pair else shrunk)[pair][0])
    # The link the target has (agreeing 80% of the time) is taught at its released strength, not pulled towards
    # independence by its weight.
    assert out[(0, 1)][1] < 1 and np.trace(out[(0, 1)][0]) > np.trace(shrunk[(0, 1)][0])


def test_the_pair_tables_carry_the_noise_their_sensitivity_needs(monkeypatch):
    """sqrt(2 t) sensitivity for t tables: the first release's noise on every table, less on the chosen ones."""
    import synth.pairs

    calls = []
    original = synth.pairs.shrink
    monkeypatch.setattr(synth.pairs, "shrink", lambda counts, n, noise: calls.append(dict(counts=counts, noise=noise))
                        or original(counts, n, noise))
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 6, (2000, 5)).astype(np.int32)
    budget = dp.Budget(dp.Privacy(epsilon=1.0, delta=1e-6, noise_multiplier=3.0, max_grad_norm=1.0), 2000, 500,
                       pairs=True)
    dp.release_pairs(codes, [6] * 5, budget, seed=0)
    seen = calls[-1]
    exact = synth.pairs.pair_counts(codes, [6] * 5)
    first = budget.pair_noises[0] * np.sqrt(2 * len(exact))  # 10 tables
    errors = {pair: (seen["counts"][pair] - table).ravel() for pair, table in exact.items()}
    once = [pair for pair in exact if seen["noise"][pair] == pytest.approx(first)]
    twice = [pair for pair in exact if pair not in once]
    assert len(twice) == 4  # a tree joining 5 blocks
    assert np.concatenate([errors[p] for p in once]).std() == pytest.approx(first, rel=0.15)
    second = budget.pair_noises[1] * np.sqrt(2 * len(twice))
    both = (first ** -2 + second ** -2) ** -0.5
    assert np.concatenate([errors[p] for p in twice]).std() == pytest.approx(both, rel=0.15)
    # A named target's tables are all released again, beside the chosen ones.
    calls.clear()
    dp.release_pairs(codes, [6] * 5, budget, seed=0, target=4)
    seen = calls[0]  # the released counts (the second call is the target's unshrunk tables)
    again = {pair for pair in exact if seen["noise"][pair] < first * 0.99}
    assert again == set(twice) | {pair for pair in exact if 4 in pair}
    second = budget.pair_noises[1] * np.sqrt(2 * len(again))
    assert seen["noise"][(0, 4)] == pytest.approx((first ** -2 + second ** -2) ** -0.5)
