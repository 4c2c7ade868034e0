"""The pair tables the generator is taught (synth.pairs): counted, shrunk against noise, and turned into a loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synth import Synthesizer, pairs
from synth.pairs import PairLoss, pair_counts, shrink, strongest, taught_blocks
from synth.sampler import ConditionalSampler


def test_pair_counts_by_hand_and_blocks_of_one_slot_left_out():
    codes = np.array([[0, 1, 0, 2], [1, 0, 0, 2], [1, 1, 0, 0]], dtype=np.int32)
    counts = pair_counts(codes, [2, 2, 1, 3])
    assert set(counts) == {(0, 1), (0, 3), (1, 3)}  # block 2 has one slot: its tables say nothing
    assert counts[(0, 1)].tolist() == [[0, 1], [1, 1]]
    assert counts[(0, 3)].tolist() == [[0, 0, 1], [1, 0, 1]]
    assert counts[(1, 3)].tolist() == [[0, 0, 1], [1, 0, 1]]


def test_a_wide_table_is_taught_the_tables_of_its_narrower_blocks_within_the_slots():
    w = pairs.MAX_WIDTH
    widths = [2, 1, w + 1, 3] + [w] * (pairs.MAX_SLOTS // w) + [2, 4]
    taught = taught_blocks(widths)
    last_wide = 3 + pairs.MAX_SLOTS // w  # the one wide block that no longer fits beside the 5 slots before it
    assert taught == [0, 3] + list(range(4, last_wide)) + [last_wide + 1, last_wide + 2]
    slots = sum(widths[b] for b in taught)
    assert slots <= pairs.MAX_SLOTS
    loss = PairLoss(widths)
    assert loss.target.shape == (slots, slots)
    first = np.cumsum([0] + widths)
    assert loss.columns.tolist() == [c for b in taught for c in range(first[b], first[b + 1])]
    codes = np.zeros((4, len(widths)), dtype=np.int32)
    assert len(pair_counts(codes, widths)) == len(taught) * (len(taught) - 1) // 2


def test_shrink_keeps_exact_tables_and_shrinks_noisy_ones_by_hand():
    table = np.array([[50.0, 0.0], [0.0, 50.0]])
    exact = shrink({(0, 1): table}, 100, 0.0)
    assert np.allclose(exact[(0, 1)][0], [[0.5, 0.0], [0.0, 0.5]]) and exact[(0, 1)][1] == 1.0
    # Margins 0.5 each, so the product is 0.25 a cell and the departure +-0.25: energy 4 * 0.0625 = 0.25. Noise of
    # sd 10 in each of 4 cells over 100 rows: energy 4 * 0.01 = 0.04. Weight 1 - 0.04 / 0.25 = 0.84.
    shares, weight = shrink({(0, 1): table}, 100, 10.0)[(0, 1)]
    assert weight == pytest.approx(0.84)
    assert np.allclose(shares, [[0.46, 0.04], [0.04, 0.46]])
    # Noise that explains the whole departure: the margins' product, with no weight in the loss.
    shares, weight = shrink({(0, 1): table}, 100, 30.0)[(0, 1)]
    assert weight == 0.0 and np.allclose(shares, 0.25)


def test_the_strongest_pairs_are_the_dependent_ones():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 3000)
    codes = np.stack([a, a, rng.integers(0, 3, 3000), rng.integers(0, 4, 3000)], axis=1).astype(np.int32)
    counts = pair_counts(codes, [3, 3, 3, 4])
    noisy = {pair: table + rng.normal(0, 20, table.shape) for pair, table in counts.items()}
    assert strongest(noisy, 3000, 20.0, 1) == [(0, 1)]


def _rows(values: list[list[int]], widths: list[int]) -> torch.Tensor:
    return torch.cat([torch.nn.functional.one_hot(torch.tensor(col), w).float()
                      for col, w in zip(zip(*values, strict=True), widths, strict=True)], dim=1)


def test_the_loss_is_the_weighted_distance_of_the_batch_tables_and_follows_their_average():
    widths = [2, 2]
    loss = PairLoss(widths)
    loss.fill({(0, 1): (np.array([[0.5, 0.0], [0.0, 0.5]]), 1.0)})
    rows = _rows([[0, 0], [1, 1], [0, 1], [1, 1]], widths)
    # The batch's table is [[1/4, 1/4], [0, 2/4]]: total variation from the target 0.5 * (0.25 + 0.25 + 0 + 0).
    value = loss(rows.clone().requires_grad_(True))
    assert value.item() == pytest.approx(0.25)
    # Weights: the row holding the broken pair counts for nothing, so the batch's tables match.
    assert loss.average.sum().item() == pytest.approx(4.0)  # the four blocks of the Gram matrix, each summing to 1
    matched = PairLoss(widths)
    matched.fill({(0, 1): (np.array([[0.5, 0.0], [0.0, 0.5]]), 1.0)})
    assert matched(rows, torch.tensor([1.0, 1.0, 0.0, 0.0])).item() == pytest.approx(0.0)
    # The gradient moves mass out of the cell the batch over-fills and into the one it under-fills.
    fresh = PairLoss(widths)
    fresh.fill({(0, 1): (np.array([[0.5, 0.0], [0.0, 0.5]]), 1.0)})
    x = rows.clone().requires_grad_(True)
    fresh(x).backward()
    assert x.grad[2, 3] > 0  # row (0, 1): more of the empty cell costs
    assert x.grad[0, 2] < 0  # row (0, 0): more of the under-filled cell pays
    # The next batch is judged by the moving average, not by itself alone.
    before = fresh.average.clone()
    other = _rows([[0, 0], [0, 0], [1, 1], [1, 1]], widths)
    fresh(other)
    gram = other.t() @ other / 4
    assert torch.allclose(fresh.average, 0.9 * before + 0.1 * gram)


def test_condition_weights_undo_the_draw_by_log_frequency():
    codes = np.array([[0]] * 90 + [[1]] * 10, dtype=np.int32)
    sampler = ConditionalSampler(codes, [2], [0], True, torch.device("cpu"))
    j, c = sampler.sample_condition(20_000, torch.Generator().manual_seed(0))
    w = sampler.weights(j, c)
    share = float((w * (c == 1)).sum() / w.sum())
    assert share == pytest.approx(0.1, abs=0.01)  # drawn by log-frequency (about 0.35), weighted back to 0.1
    assert float((c == 1).float().mean()) > 0.3


@pytest.fixture(scope="module")
def linked_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    a = rng.choice(["p", "q", "r"], 1500)
    keep = rng.random(1500) < 0.8
    return pd.DataFrame({"a": a, "b": np.where(keep, np.char.upper(a.astype(str)), rng.choice(["P", "Q", "R"], 1500)),
                         "c": rng.choice(["s", "t"], 1500), "x": rng.normal(size=1500)})


TINY = {"embedding_dim": 16, "generator_dim": (32,), "discriminator_dim": (32,), "batch_size": 300, "epochs": 3}


def test_the_pair_loss_reaches_the_generator_and_is_reported(linked_table):
    fits = [Synthesizer(seed=0, pair_loss="on", pair_weight=w, **TINY).fit(linked_table) for w in (1.0, 50.0)]
    assert all("pairs" in h for model in fits for h in model.history)
    assert all(0 <= h["pairs"] <= 1 for h in fits[0].history)
    weights = [dict(model._generator.named_parameters()) for model in fits]
    assert any(not torch.equal(weights[0][n], weights[1][n]) for n in weights[0])
    off = Synthesizer(seed=0, pair_loss="off", **TINY).fit(linked_table)
    assert off._pair_loss is None and "pairs" not in off.history[-1]


def test_generated_rows_are_weighted_back_to_their_conditions_true_frequencies(linked_table, monkeypatch):
    seen = []
    forward = PairLoss.forward

    def recording(self, one_hot, row_weights=None):  # noqa: ANN001, ANN202
        seen.append(row_weights)
        return forward(self, one_hot, row_weights)

    monkeypatch.setattr(PairLoss, "forward", recording)
    skewed = linked_table.assign(c=np.where(np.arange(len(linked_table)) % 10 == 0, "s", "t"))
    Synthesizer(seed=0, pair_loss="on", **{**TINY, "epochs": 1}).fit(skewed)
    assert seen and all(w is not None for w in seen)
    # A rare condition ("s", a tenth of the rows) is drawn more often than it occurs: its rows count for less than
    # a common one's.
    assert float(torch.cat(seen).min()) < 0.5 and float(torch.cat(seen).max()) > 1.2
