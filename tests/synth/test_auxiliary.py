import numpy as np
import pandas as pd
import pytest
import torch

from synth import SynthError, Synthesizer
from synth.auxiliary import target_model

from .conftest import read_dataset


@pytest.fixture(scope="module")
def adult():
    return read_dataset("adult", 1000)


def _prepared(df: pd.DataFrame, target: str, **settings) -> Synthesizer:
    model = Synthesizer(epochs=1, batch_size=100, seed=0, target=target, **{"target_loss": "on", **settings})
    model._prepare(df)
    return model


def _rows(model: Synthesizer, df: pd.DataFrame) -> torch.Tensor:
    scalars, codes = model.transformer.transform(df, seed=0)
    return model._layout().expand(torch.from_numpy(scalars), torch.from_numpy(codes))


def test_a_categorical_target_is_labelled_by_its_class(adult):
    model = _prepared(adult, "income")
    rows = _rows(model, adult)
    enc = model.transformer.discrete[[d.name for d in model.transformer.discrete].index("income")]
    labels = model._target_model.label(rows).numpy()
    assert [enc.categories[k] for k in labels] == adult["income"].tolist()


def test_a_numeric_target_is_labelled_by_its_standardised_value(adult):
    model = _prepared(adult, "age", numeric_encoding="modes")
    rows = _rows(model, adult)
    enc = next(c for c in model.transformer.continuous if c.name == "age")
    expected = (adult["age"].to_numpy(float) - enc.mean) / enc.std
    labels = model._target_model.label(rows).numpy()
    # Exact but for values whose offset within their mode was clipped at the mode's edge (4 standard deviations).
    inside = np.abs(labels - expected) < 1e-4
    assert inside.mean() > 0.99
    assert np.corrcoef(labels, expected)[0, 1] > 0.999


def test_a_numeric_target_seen_by_its_normal_scores_is_labelled_by_them(adult):
    model = _prepared(adult, "age", numeric_encoding="normal")
    labels = model._target_model.label(_rows(model, adult)).numpy()
    # Ages are whole years: a year's rows share its span of scores, so the order holds between years.
    ages = adult["age"].to_numpy()
    by_year = pd.Series(labels).groupby(ages)
    assert (by_year.max().to_numpy()[:-1] <= by_year.min().to_numpy()[1:] + 1e-6).all()
    assert abs(labels.mean()) < 0.05 and abs(labels.std() - 1) < 0.05


@pytest.mark.parametrize("target", ["income", "age"])
def test_the_prediction_does_not_read_the_target(adult, target):
    model = _prepared(adult, target)
    aux = model._target_model
    rows = _rows(model, adult.iloc[:50])
    changed = rows.clone()
    changed[:, aux.block] = torch.rand_like(changed[:, aux.block])
    if aux.scalar is not None:
        changed[:, aux.scalar] = torch.rand(len(changed))
    else:
        assert aux.scalar is None
    with torch.no_grad():
        assert torch.equal(aux.seq(rows * aux.mask), aux.seq(changed * aux.mask))
        other = rows.clone()
        other[:, 0] += 1.0  # a column that is not the target's
        if aux.scalar == 0:
            other[:, 0] -= 1.0
            other[:, 1] += 1.0
        assert not torch.equal(aux.seq(rows * aux.mask), aux.seq(other * aux.mask))


def test_the_target_model_learns_real_rows(adult):
    model = _prepared(adult, "income")
    aux, rows = model._target_model, _rows(model, adult)
    labels = aux.label(rows)
    opt = torch.optim.Adam(aux.parameters(), lr=1e-3)
    for _ in range(200):
        opt.zero_grad()
        aux.loss(rows, labels).backward()
        opt.step()
    with torch.no_grad():
        predicted = aux.seq(rows * aux.mask).argmax(1)
    majority = labels.bincount().max().item() / len(labels)
    assert (predicted == labels).float().mean().item() > majority + 0.05


def test_a_derived_target_is_learnt_through_its_source():
    rng = np.random.default_rng(0)
    code = rng.choice(["a", "b", "c"], 400)
    df = pd.DataFrame({"code": code, "label": pd.Series(code).map({"a": "x", "b": "y", "c": "y"}),
                       "v": rng.normal(size=400)})
    model = _prepared(df, "label")
    assert "label" in {d.name for d in model.transformer.derived}
    layout = model._layout()
    source = target_model(model.transformer, "code", layout, (8,))
    assert model._target_model.block == source.block


def test_a_target_that_is_not_a_column_is_refused(adult):
    with pytest.raises(SynthError, match="target 'salary' is not a column"):
        Synthesizer(epochs=1, target="salary").fit(adult)
    with pytest.raises(SynthError, match="target must be a column name"):
        Synthesizer(target=3)


@pytest.mark.parametrize(("target", "settings", "used"), [
    ("age", {}, True), ("income", {}, False),  # by default a numeric target only (Config.target_loss)
    ("income", {"target_loss": "on"}, True), ("age", {"target_loss": "off"}, False),
    ("age", {"privacy": {"epsilon": 10.0, "delta": 1e-5}}, False),  # it reads real rows: never under DP
])
def test_which_fits_train_a_target_model(adult, target, settings, used):
    assert (_prepared(adult, target, **{"target_loss": "auto", **settings})._target_model is not None) == used


def test_training_with_a_target_trains_its_model_and_keeps_it_out_of_the_model_file(adult, tmp_path):
    model = Synthesizer(epochs=2, batch_size=100, seed=0, target="income", target_loss="on")
    assert model._target_model is None  # built with the networks, once the table is known
    model.fit(adult)
    assert model._target_model is not None and model._opt_t.state
    assert all(h["target"] > 0 for h in model.history)
    assert "target" not in Synthesizer(epochs=1, batch_size=100).fit(adult).history[0]
    model.save(tmp_path / "m")
    loaded = Synthesizer.load(tmp_path / "m")
    assert loaded.config.target == "income" and loaded._target_model is None
    assert len(loaded.sample(100, seed=0)) == 100


def test_the_target_loss_reaches_the_generator_and_the_target_model_learns_from_real_rows_only(adult):
    """Two fits that differ only in target_weight: their generators differ (the loss is in the generator's update),
    their target models do not (each learns from the same real rows, whatever the generator draws)."""
    fits = [Synthesizer(epochs=1, batch_size=100, seed=0, target="age", target_weight=w).fit(adult, threads=1)
            for w in (1e-3, 100.0)]
    light, heavy = ({k: v.detach().clone() for k, v in m._generator.state_dict().items()} for m in fits)
    assert any(not torch.equal(light[k], heavy[k]) for k in light)
    for a, b in zip(fits[0]._target_model.parameters(), fits[1]._target_model.parameters(), strict=True):
        assert torch.equal(a, b)
