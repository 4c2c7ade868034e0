"""Pair rules (synth.rules): which empty cells are rules, the loss that teaches them, and no rule in the model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from synth import Synthesizer
from synth.rules import MIN_EXPECTED, PairRules, RuleLoss


def _codes(pairs: list[tuple[int, int, int]]) -> np.ndarray:
    """Rows of (block 0 code, block 1 code), `count` of each pair."""
    return np.array([(a, b) for a, b, count in pairs for _ in range(count)], dtype=np.int32)


def test_an_empty_cell_is_a_rule_only_when_many_rows_were_expected_in_it():
    # 200 rows. (0, 1) is empty though a=0 is in 100 rows and b=1 in 96: 48 were expected. (1, 2) is empty too,
    # but b=2 is in 4 rows: 2 expected, which chance explains. (0, 3) is held.
    codes = _codes([(0, 0, 96), (0, 2, 4), (1, 1, 96), (1, 3, 4)])
    rules = PairRules.learn(codes, [0, 1], [2, 4])
    assert {k: np.argwhere(v).tolist() for k, v in rules.tables.items()} == {(0, 1): [[0, 1], [1, 0]]}
    assert rules.count == 2
    assert rules.broken(np.array([[0, 1], [1, 1], [1, 2], [1, 0]])).tolist() == [True, False, False, True]


def test_the_threshold_is_the_expected_count():
    codes = _codes([(0, 0, 20), (1, 1, 20)])  # (0, 1) empty: 20 * 20 / 40 = 10 rows expected, the threshold
    assert PairRules.learn(codes, [0, 1], [2, 2]).count == 2  # (0, 1) and (1, 0)
    assert not PairRules.learn(codes, [0, 1], [2, 2], min_expected=MIN_EXPECTED + 0.1)


def test_the_loss_is_the_chance_a_drawn_row_holds_a_rule_s_pair():
    rules = PairRules.learn(_codes([(0, 0, 50), (1, 1, 50)]), [0, 1], [2, 2])  # forbidden: (0, 1) and (1, 0)
    loss = RuleLoss(rules, 3, torch.device("cpu"))  # a padded width of 3, as a layout with a wider block has
    probs = torch.tensor([[[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]],  # row 1: 0.9 * 0.8 + 0.1 * 0.2 = 0.74
                          [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])  # row 2: never
    assert loss(probs).item() == pytest.approx(0.74 / 2)


def _ruled_table(rows: int, seed: int) -> pd.DataFrame:
    """A customer without internet ("no") has no plan ("none"); one with internet may have none too. Neither
    column is a function of the other, so the transformer cannot derive one from the other: the rule is learned."""
    rng = np.random.default_rng(seed)
    internet = np.where(rng.random(rows) < 0.4, "no", "yes")
    plan = np.where(internet == "no", "none", rng.choice(["none", "basic", "plus"], rows, p=[0.2, 0.5, 0.3]))
    return pd.DataFrame({"internet": internet, "plan": plan, "fee": rng.gamma(2, 20, rows).round(2),
                         "region": rng.choice(["north", "south", "east", "west"], rows)})


def _broken_share(model: Synthesizer, rows: int = 5000) -> float:
    sample = model.sample(rows, seed=1)
    return float(((sample["internet"] == "no") & (sample["plan"] != "none")).mean())


def test_the_loss_teaches_the_generator_the_rule_and_the_model_file_keeps_no_rule(tmp_path):
    table = _ruled_table(1000, 0)
    # Independent draws (no chain), no information loss, the last weights and CTGAN's critic dropout, so that the
    # rule loss alone is measured. (With the information loss on, the taught model broke the rule in 5.4% of rows,
    # the untaught one in 10.9%; sampled from the generator's average, 7.2% and 13.7%: the average lags what 300
    # updates teach; with the critic's dropout off, 3.8% and 6.9%: the critic teaches part of the rule itself.)
    alone = {"chain": False, "info_weight": 0.0, "average_decay": 0.0, "discriminator_dropout": 0.5}
    taught = Synthesizer(epochs=60, batch_size=200, seed=0, rule_weight=10.0, **alone).fit(table)
    untaught = Synthesizer(epochs=60, batch_size=200, seed=0, rule_weight=0.0, **alone).fit(table)
    # 300 updates: too few for the critic alone to teach the rule (11% of rows broke it here); the loss teaches
    # most of it (4.5%).
    assert _broken_share(untaught) > 0.05
    assert _broken_share(taught) < _broken_share(untaught) / 2
    # Learned into the weights, not stored: the two model files hold the same fields and tensors, their settings
    # differing only in the weight.
    taught.save(tmp_path / "taught")
    untaught.save(tmp_path / "untaught")
    specs = [json.loads((tmp_path / name / "model.json").read_text()) for name in ("taught", "untaught")]
    assert specs[0].keys() == specs[1].keys()
    trained = ("config", "biases", "history", "transformer")  # what training itself moves
    assert {k: v for k, v in specs[0].items() if k not in trained} == \
        {k: v for k, v in specs[1].items() if k not in trained}
    assert specs[0]["transformer"].keys() == specs[1]["transformer"].keys()
    assert {k: v for k, v in specs[0]["config"].items() if k != "rule_weight"} == \
        {k: v for k, v in specs[1]["config"].items() if k != "rule_weight"}
    tensors = [safe_open(tmp_path / name / "model.safetensors", "pt").keys() for name in ("taught", "untaught")]
    assert tensors[0] == tensors[1]


def test_the_chain_learns_the_rule_that_independent_draws_break():
    """The issue's bar for a rule the holdout never breaks: at most 0.5 points of the rows. 750 updates."""
    table = _ruled_table(1000, 0)
    # The chain alone, taught by the critic only (its likelihood on real rows is the next test's), sampled from its
    # last weights: the generator's average lags the shifts the chain is still growing at 750 updates (conditioned
    # rows without internet 0.32%, and 0.53% in one full test run, against 0.25%).
    chained = Synthesizer(epochs=150, batch_size=200, seed=0, average_decay=0.0, chain_likelihood=False).fit(table)
    independent = Synthesizer(epochs=150, batch_size=200, seed=0, chain=False, average_decay=0.0).fit(table)
    assert chained.config.chain
    # Here: 0.14% of the rows with the chain, 1.0% without.
    assert _broken_share(chained) <= 0.005
    assert _broken_share(independent) > 2 * _broken_share(chained)
    # A condition on the later column reaches the earlier one through the chain: rows asked to have a plan are drawn
    # with internet (here 0.1% without; 2.3% when sampling leaves the condition out of the chain's draws).
    for plan in ("basic", "plus"):
        assert (chained.sample(4000, seed=5, conditions={"plan": plan})["internet"] == "no").mean() <= 0.005


def test_the_chain_s_likelihood_on_real_rows_teaches_the_rule_in_fewer_updates():
    """The critic teaches the chain a rule only through the generated rows it tells apart; the real rows'
    likelihood (chain_likelihood) pushes the forbidden pair's shift down at every step. 200 updates, last weights."""
    table = _ruled_table(1000, 0)
    kept = dict(epochs=40, batch_size=200, seed=0, average_decay=0.0)
    with_likelihood = Synthesizer(**kept).fit(table)
    critic_alone = Synthesizer(**kept, chain_likelihood=False).fit(table)
    assert with_likelihood.config.chain_likelihood  # the default
    # Here: 0.42% of the rows with it, 3.1% with the critic alone.
    assert _broken_share(with_likelihood) <= 0.01
    assert _broken_share(critic_alone) > 3 * _broken_share(with_likelihood)
