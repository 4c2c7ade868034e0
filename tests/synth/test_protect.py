"""Protection by default (synth.protect): a trained model neither stores nor emits a value that fewer than k
training rows hold, be it a category, a derived column's value, an ID's shape or an exact extreme."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.protect import MARKER, protected_bounds, window_quantiles
from synth.schema import to_seconds

K = 10


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A table built to hold values that fewer than K rows hold: a unique job title and a rare one (and the
    code derived from them), one-off cities beyond the "other" slot, one-off extreme incomes at both ends,
    an extreme age, a rare count, a rare date at each end, a rare ID shape, and one-off extremes of a number
    modelled within a category, of a total of two columns and of a number modelled near another."""
    rng = np.random.default_rng(seed)
    job = rng.choice(["clerk", "nurse", "teacher"], n, p=[0.5, 0.3, 0.2]).astype(object)
    job[0], job[1:4] = "astronaut", "zookeeper"
    code = pd.Series(job).map({"clerk": "C", "nurse": "N", "teacher": "T", "astronaut": "AS", "zookeeper": "ZK"})
    city = rng.choice(["Avon", "Bree", "Cork", "Dale", "Eton"], n, p=[0.35, 0.25, 0.2, 0.12, 0.08]).astype(object)
    for i, name in enumerate(["Hobbiton", "Lonely Mountain", "Rivendell", "Minas Tirith", "Edoras"]):
        city[10 + i] = name
    income = np.round(rng.normal(52_000, 9_000, n), 2)
    income[4], income[5] = 9_876_543.21, 1_234.56
    age = rng.integers(22, 60, n)
    age[6] = 99
    children = rng.integers(0, 4, n)
    children[7] = 11
    days = rng.integers(0, 5 * 365, n)
    hired = (pd.Timestamp("2010-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d").to_numpy(object)
    hired[8], hired[9] = "1901-02-03", "2099-12-31"
    ids = np.array([f"EMP-{i:05d}" for i in range(n)], dtype=object)
    ids[20] = "x7_QQ"
    # A rent that the city nearly fixes (modelled within its city, synth.centre), with a one-off at each end; and
    # a total pay that is income plus bonus on every row (not modelled, synth.sums), one-off where income is.
    level = {"Avon": 1_000, "Bree": 3_000, "Cork": 5_000}  # the other cities share the "other" slot, and a level
    rent = np.round([level.get(c, 7_000) + rng.normal(0, 20) for c in city])
    rent[30], rent[31] = 12_000, 137
    bonus = rng.integers(1_000, 5_000, n)
    # A commute's minutes that its distance nearly orders (modelled near the distance, synth.follow), one-off at
    # each end.
    km = np.round(rng.gamma(4, 5, n), 1)
    minutes = np.round(2 * km + rng.normal(0, 2, n))
    minutes[32], minutes[33] = 480, -50
    return pd.DataFrame({"employee_id": ids, "job": job, "job_code": code, "city": city, "income": income,
                         "age": age, "children": children, "hired": hired, "rent": rent, "bonus": bonus,
                         "total_pay": income + bonus, "commute_km": km, "commute_minutes": minutes})


def _leaks(df: pd.DataFrame) -> tuple[set[str], dict[str, list[float]]]:
    """What must not appear: text held by fewer than K rows (values of every text column, the rare ID and its
    shape), and per numeric column its extremes held by fewer than K rows (dates as seconds and as text)."""
    texts: set[str] = set()
    for name in ("job", "job_code", "city"):
        counts = df[name].value_counts()
        texts |= set(counts.index[counts < K])
    texts |= {"x7_QQ", "a9_AA"}  # the rare key and its template
    numbers: dict[str, list[float]] = {}
    for name in ("income", "age", "children", "hired", "rent", "total_pay", "commute_minutes"):
        x = to_seconds(df[name], "%Y-%m-%d") if name == "hired" else df[name].to_numpy(float)
        values, counts = np.unique(x, return_counts=True)
        numbers[name] = [float(v) for v, c in zip(values[[0, -1]], counts[[0, -1]], strict=True) if c < K]
    texts |= {h for h in df["hired"] if h in ("1901-02-03", "2099-12-31")}
    return texts, numbers


def _strings_and_numbers(node, path=()):  # noqa: ANN001, ANN202
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings_and_numbers(key, path)
            yield from _strings_and_numbers(value, (*path, key))
    elif isinstance(node, list):
        for value in node:
            yield from _strings_and_numbers(value, path)
    elif isinstance(node, (int, float, str)) and not isinstance(node, bool):
        yield path, node


def _scan(model_dir: Path, df: pd.DataFrame) -> list[str]:
    """Every forbidden value found in model.json or the safetensors header, as readable findings."""
    texts, numbers = _leaks(df)
    spec = json.loads((model_dir / "model.json").read_text())
    raw = (model_dir / "model.safetensors").read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    found = []
    for where, document in (("model.json", spec), ("safetensors header", header)):
        for path, value in _strings_and_numbers(document):
            if isinstance(value, str) and any(t == value or (len(t) > 3 and t in value) for t in texts):
                found.append(f"{where}: {'/'.join(map(str, path))} holds {value!r}")
    flat = [v for _, v in _strings_and_numbers(spec) if isinstance(v, (int, float))]
    # Standardised numbers of each continuous encoder, back in the column's units.
    for enc in spec["transformer"]["continuous"]:
        for key in ("means", "quantiles", "calibration"):
            flat += [enc["mean"] + enc["std"] * v for v in enc.get(key) or []]
    for name, extremes in numbers.items():
        for extreme in extremes:
            if any(np.isclose(v, extreme, rtol=1e-9, atol=1e-6) for v in flat):
                found.append(f"model.json: {name}'s extreme {extreme!r}")
    return found


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table()


def _train(df: pd.DataFrame, path: Path, **knobs) -> Synthesizer:
    model = Synthesizer(epochs=1, batch_size=100, seed=0, max_categories=3, embedding_dim=16,
                        generator_dim=(32,), discriminator_dim=(32,), column_kinds={"employee_id": "id"}, **knobs)
    model.fit(df)
    model.save(path)
    return model


def test_the_scan_finds_every_planted_value_in_an_unprotected_model(table, tmp_path):
    """Without protection (k = 1, the engine before it) the model stores them: the scan below can fail."""
    model = _train(table, tmp_path, rare_threshold=1)
    assert [t.name for t in model.transformer.sums] == ["total_pay"]
    assert next(e for e in model.transformer.continuous if e.name == "rent").centre.on == ["city"]
    assert next(e for e in model.transformer.continuous if e.name == "commute_minutes").follow.by == "commute_km"
    found = "\n".join(_scan(tmp_path, table))
    for planted in ("astronaut", "zookeeper", "'AS'", "Hobbiton", "a9_AA", "income's extreme 9876543.21",
                    "income's extreme 1234.56", "age's extreme 99.0", "children's extreme 11.0", "hired's extreme",
                    "rent's extreme 12000.0", "rent's extreme 137.0", "total_pay's extreme",
                    "commute_minutes's extreme 480.0", "commute_minutes's extreme -50.0"):
        assert planted in found, planted


@pytest.mark.parametrize("mode", ["marker", "frequent"])
def test_a_protected_model_stores_and_emits_no_value_fewer_than_k_rows_hold(table, tmp_path, mode):
    model = _train(table, tmp_path, rare_categories=mode)
    assert model.config.rare_threshold == K
    assert _scan(tmp_path, table) == []
    texts, numbers = _leaks(table)
    rows = Synthesizer.load(tmp_path).sample(5000, seed=1)
    for name in ("job", "job_code", "city", "employee_id"):
        assert not set(rows[name].astype(str)) & texts, name
    assert (MARKER in set(rows["job"])) == (mode == "marker")
    assert MARKER not in set(rows["children"].astype(str))  # numbers take the nearest kept value
    for name, extremes in numbers.items():
        x = to_seconds(rows[name], "%Y-%m-%d") if name == "hired" else rows[name].to_numpy(float)
        real = to_seconds(table[name], "%Y-%m-%d") if name == "hired" else table[name].to_numpy(float)
        assert extremes, name
        for extreme in extremes:  # nothing at or beyond a one-off extreme
            assert (x > extreme).all() if extreme == real.min() else (x < extreme).all(), (name, extreme)


def test_protected_bounds_are_means_of_k_rows_rounded_inward():
    x = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 100])
    assert protected_bounds(x, 3) == (2.0, pytest.approx(39.0))
    assert protected_bounds(x, 3, step=1.0) == (2.0, 39.0)
    assert protected_bounds(np.array([1.0, 1.4, 1.6, 5.0]), 2, step=1.0) == (2.0, 3.0)  # ceil / floor
    assert protected_bounds(np.array([7.0] * 5 + [8.0]), 5) == (7.0, pytest.approx(7.2))  # k rows hold the min
    assert protected_bounds(x, 1) == (1.0, 100.0)


def test_window_quantiles_average_k_order_statistics_and_keep_their_order():
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=1000)
    q = window_quantiles(x, 257, 10)
    assert np.all(np.diff(q) >= 0)
    s = np.sort(x)
    assert q[0] == pytest.approx(s[:10].mean()) and q[-1] == pytest.approx(s[-10:].mean())
    assert not np.isin(q, x).any()  # no stored point is one row's value
    assert np.allclose(window_quantiles(x, 257, 1), np.quantile(x, np.linspace(0, 1, 257)))
