"""The engine's training settings: each one's default, bounds and meaning, written once.

`Config` holds them for a fit and checks them. The service derives its job parameters from the same fields
(`app/params.py`), and the worker passes a job's values straight back, so a bound or a default lives here only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from synth.errors import SynthError

DEFAULT_EPOCHS = 300  # CTGAN's
DEFAULT_BATCH = 500  # CTGAN's
SMALL_TABLE_BATCH = 100  # the least rows a step the table's size chooses


@dataclass(frozen=True)
class Knob:
    """A setting's bounds (`low` exclusive when `low_open`), its meaning, and whether a job may set it."""

    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    max_items: int | None = None  # for a list of layer widths: how many; the bounds apply to each
    exposed: bool = True
    choices: tuple | None = None  # for a text setting: the values it may take
    fields: dict | None = None  # for a small dict setting: {key: (default, Knob)}; default None: required


def knob(default: Any, doc: str, **bounds: Any) -> Any:
    return field(default=default, metadata={"knob": Knob(doc, **bounds)})


PRIVACY_FIELDS = {
    "epsilon": (None, Knob("The privacy budget epsilon: what one row can change, at most e^epsilon in odds.",
                           low=0, low_open=True, high=1000)),
    "delta": (None, Knob("The chance, at most, that the epsilon bound fails; well below 1/rows.", low=0,
                         low_open=True, high=1, high_open=True)),
    "noise_multiplier": (3.0, Knob("DP-SGD noise: its standard deviation over the sensitivity of a critic step "
                                   "(2 max_grad_norm). More noise buys more steps for the same epsilon.",
                                   low=0.3, high=1000)),
    "max_grad_norm": (1.0, Knob("DP-SGD clipping: each pac group's critic gradient is scaled to at most this "
                                "norm.", low=0, low_open=True, high=1e6)),
    "categories": ({}, Knob("Public domains, {column: [values]}: the values a categorical column may hold, declared "
                            "public (a code book's list, not read off the rows). Their counts are released without "
                            "the threshold that otherwise hides every value too few rows hold; a value outside the "
                            "list becomes the marker. {}: no column's values are public.", max_items=100_000)),
    "bounds": ({}, Knob("Public bounds, {column: [low, high]}: a numeric column's range, declared public (a form's "
                        "limits, not read off the rows). Values outside are clipped to it, and none of the budget goes "
                        "to finding it. {}: every numeric column's range is found from noisy counts.")),
}
MAX_PUBLIC_COLUMNS = 1000


def privacy_settings(value: dict) -> dict:
    """A privacy setting checked against PRIVACY_FIELDS, with the defaults filled in."""
    if not isinstance(value, dict):
        raise SynthError(f"privacy must be an object such as {{\"epsilon\": 1.0, \"delta\": 1e-6}}, got {value!r}")
    unknown = sorted(set(value) - set(PRIVACY_FIELDS))
    if unknown:
        raise SynthError(f"privacy: unknown key(s) {unknown}; keys are {list(PRIVACY_FIELDS)}")
    out = {}
    for key, (default, spec) in PRIVACY_FIELDS.items():
        item = value.get(key, default)
        if item is None:
            raise SynthError(f"privacy.{key} is required")
        if isinstance(default, dict):
            out[key] = _public_domains(key, item, spec) if key == "categories" else _public_bounds(key, item)
            continue
        _check(f"privacy.{key}", item, spec, float)
        out[key] = float(item)
    return out


PUBLIC_KINDS = {"categories": ("categorical", "boolean"), "bounds": ("continuous", "integer")}


def check_public_domains(privacy: dict, kinds: dict[str, str]) -> None:
    """privacy.categories and privacy.bounds name columns (of `kinds`, {column: kind}) of the kinds they are for."""
    for key, allowed in PUBLIC_KINDS.items():
        wrong = sorted(name for name in privacy.get(key) or {} if kinds.get(name) not in allowed)
        if wrong:
            raise SynthError(f"privacy.{key} names {wrong}, not {' or '.join(allowed)} column(s) of the table; "
                             f"its columns are {kinds}")


def _public_bounds(key: str, value: Any) -> dict[str, list[float]]:
    """{column: [low, high]}, finite numbers with low < high."""
    if not isinstance(value, dict) or len(value) > MAX_PUBLIC_COLUMNS:
        raise SynthError(f"privacy.{key} must be an object of at most {MAX_PUBLIC_COLUMNS} columns, each with "
                         f"[low, high], such as {{\"age\": [17, 90]}}; got {value!r}")
    out = {}
    for column, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
                and pair[0] < pair[1]):
            raise SynthError(f"privacy.{key}[{column!r}] must be [low, high], two finite numbers with low below "
                             f"high; got {pair!r}")
        out[str(column)] = [float(pair[0]), float(pair[1])]
    return out


def _public_domains(key: str, value: Any, spec: Knob) -> dict[str, list]:
    """{column: [values]}, each list non-empty, of distinct text, numbers or booleans."""
    if not isinstance(value, dict) or len(value) > MAX_PUBLIC_COLUMNS:
        raise SynthError(f"privacy.{key} must be an object of at most {MAX_PUBLIC_COLUMNS} columns, each with its "
                         f"list of values, such as {{\"sex\": [\"Female\", \"Male\"]}}; got {value!r}")
    out = {}
    for column, values in value.items():
        if not isinstance(values, list) or not 0 < len(values) <= spec.max_items or not all(
                isinstance(v, str | int | float | bool) for v in values):
            raise SynthError(f"privacy.{key}[{column!r}] must be a list of 1 to {spec.max_items} values (text, "
                             f"numbers or booleans), got {values!r}")
        if len({str(v) for v in values}) != len(values):
            raise SynthError(f"privacy.{key}[{column!r}] lists a value more than once")
        out[str(column)] = list(values)
    return out


@dataclass
class Config:
    """Every CTGAN hyperparameter, with the paper's defaults, and ours."""

    epochs: int = knob(0, "Passes over the training rows; 0 (the default) lets the table's size decide: "
                       f"{DEFAULT_EPOCHS}, or more on a table of few batches, enough for `min_steps` updates.",
                       low=0, high=100_000)
    min_steps: int = knob(3000, "With epochs 0: the generator updates a fit makes at least.", low=0,
                          high=10_000_000)
    batch_size: int = knob(
        0, f"Rows per step, a multiple of `pac`; 0 (the default) lets the table's size decide: {DEFAULT_BATCH}, or "
        f"with `epochs` 0 an eighth of a smaller table's rows (at least {SMALL_TABLE_BATCH}), so that a small table "
        f"makes its `min_steps` updates on smaller, cheaper batches; {DEFAULT_BATCH} under differential privacy, "
        "whose noise a larger batch averages out.", low=0, high=100_000)
    embedding_dim: int = knob(128, "Size of the generator's noise input.", low=8, high=1024)
    generator_dim: tuple[int, ...] = knob((256, 256), "Widths of the generator's residual layers.",
                                          low=8, high=4096, max_items=6)
    discriminator_dim: tuple[int, ...] = knob((256, 256), "Widths of the discriminator's layers.",
                                              low=8, high=4096, max_items=6)
    generator_lr: float = knob(2e-4, "Adam learning rate of the generator.", low=0, low_open=True, high=0.1)
    generator_decay: float = knob(1e-6, "Weight decay of the generator.", low=0, high=0.1)
    discriminator_lr: float = knob(2e-4, "Adam learning rate of the discriminator.", low=0, low_open=True, high=0.1)
    discriminator_decay: float = knob(1e-6, "Weight decay of the discriminator.", low=0, high=0.1)
    discriminator_dropout: float = knob(
        0.0, "Dropout after each of the critic's hidden layers. CTGAN's 0.5 was for a critic judging ten rows at "
        "once; one judging each row (pac 1) learns the rows' joint structure better without it (BENCHMARKS.md, "
        "the levers).", low=0, high=0.9)
    discriminator_steps: int = knob(1, "Discriminator updates per generator update.", low=1, high=10)
    pac: int = knob(1, "Rows the discriminator judges together (PacGAN; CTGAN's default is 10). One lets it judge "
                    "each row whole, which is how rows learn to hold together (BENCHMARKS.md, the levers).",
                    low=1, high=64)
    chain: bool = knob(
        True, "Each categorical column (and each numeric column's mixture mode) is drawn after the ones before it "
        "in the row, its logits shifted by a learned weight for each category drawn before it: an autoregressive "
        "head, so that the generator can learn that a husband is male instead of drawing each column on its own. "
        "False: CTGAN's independent draws (BENCHMARKS.md, the levers).")
    chain_lr: float = knob(5e-3, "Adam learning rate of the chain's weights: logit shifts of several units have "
                           "to be learnt within a short training.", low=0, low_open=True, high=1.0)
    chain_likelihood: bool = knob(
        True, "The chain's likelihood on real rows: besides the critic's step, the chain's weights take a step of "
        "their own each update (at `chain_lr`), fitting how likely each category is given the categories before it "
        "in real rows (synth.networks.ChainLikelihood), so that a pair the rows never hold (a female husband) is not "
        "drawn. False leaves the chain to the critic alone. Off without the chain and under differential privacy (it "
        "reads real rows).")
    target: str | None = knob(
        None, "A column to predict: with it, a small network learns to predict the target from the row's other "
        "columns, and the generator is charged for rows whose target that network would not predict (synth.auxiliary; "
        "the job's `target`; see `target_loss`). None: no such loss. Under differential privacy that network is off, "
        "and the target's pair tables are all released a second time, with less noise (synth.dp).", exposed=False)
    target_loss: str = knob(
        "auto", "When a fit names a target, whether its model's loss teaches the generator: 'auto' for a numeric "
        "target only (on Adult's categorical one it cost detection and coherence for no gain in ML utility; "
        "BENCHMARKS.md, the levers), 'on' for any target, 'off' never.", choices=("auto", "on", "off"))
    target_weight: float = knob(1.0, "Weight of the target loss beside the critic's.", low=0, low_open=True,
                                high=1000)
    log_frequency: bool = knob(True, "Draw training conditions by log-frequency (CTGAN's choice).", exposed=False)
    numeric_encoding: str = knob(
        "auto", "How the generator sees a numeric column: 'modes' (CTGAN's mode-specific normalisation: a mixture "
        "mode and the value's place in it), 'normal' (the value's normal score: its rank mapped onto a standard "
        "normal, one smooth number however skewed the column), or 'auto' (normal scores, but modes for a column "
        "where one value holds at least 10% of the rows). BENCHMARKS.md, the levers.",
        choices=("modes", "normal", "auto"))
    max_modes: int = knob(10, "Most mixture modes per continuous column.", low=1, high=100, exposed=False)
    max_categories: int = knob(100, "Categories modelled per column; the rest share one slot.", low=1,
                               high=100_000, exposed=False)
    calibrate: bool = knob(True, "Calibrate marginals after training.", exposed=False)
    rule_weight: float = knob(
        0.0, "Weight of the pair-rule loss: the generator's chance of pairing two category values that the training "
        "rows never hold together although their counts made at least 10 such rows expected (a female husband), "
        "beside the critic's loss (synth.rules). 0 (the default) leaves it out: it helped on small tables, bent column "
        "shapes on Adult (BENCHMARKS.md, the levers). Off under differential privacy.", low=0, high=1000)
    pair_loss: str = knob(
        "auto", "Whether the generator is also taught the table's two-way counts, every pair of category blocks and "
        "numeric modes (synth.pairs): 'auto' under differential privacy only, where they are released with noise "
        "and the critic teaches little; 'on' always; 'off' never.", choices=("auto", "on", "off"))
    pair_weight: float = knob(5.0, "Weight of the pair-table loss beside the critic's.", low=0, low_open=True,
                              high=1000)
    info_weight: float = knob(
        1.0, "Weight of the information loss (CTAB-GAN, synth.networks.information_loss): how far the generated "
        "rows' critic features are from the real rows', in mean and spread over a batch, beside the critic's loss. "
        "0 leaves it out. Off under differential privacy (it reads real rows' features).", low=0, high=1000)
    average_decay: float = knob(
        0.999, "The model samples from an exponential moving average of the generator's weights over its updates, "
        "with this decay a step (about the last 1/(1-decay) updates; fewer early on); 0 samples from the last "
        "weights. Averaging smooths the generator's step-to-step swings (Yazici et al., 2019).", low=0, high=0.99999)
    rare_threshold: int = knob(
        10, "k: a category held by fewer than k training rows is never stored or emitted as itself, and every "
        "number kept about a numeric column (its clipping bounds, quantiles, mixture modes, ID bounds) is an "
        "average over at least k rows, so no one-off extreme is stored or emitted. 1 turns this off.",
        low=1, high=10_000)
    rare_categories: str = knob(
        "marker", "What a rare category of a text column becomes: 'marker' (the value _RARE_) or 'frequent' "
        "(a frequent category, drawn by frequency). Numeric and boolean columns always take the nearest or a "
        "frequent value.", choices=("marker", "frequent"))
    privacy: dict | None = knob(
        None, "Differential privacy: {\"epsilon\": 1.0, \"delta\": 1e-6} makes the whole training (epsilon, "
        "delta)-DP for one row (synth.dp); the budget is spent by the last epoch. None: no DP.",
        fields=PRIVACY_FIELDS)
    seed: int = knob(0, "Seed for the holdout split and training.", low=0, high=2**32 - 1)

    def check(self) -> None:
        for f in fields(self):
            spec = f.metadata["knob"]
            if spec.fields is not None:
                if getattr(self, f.name) is not None:
                    privacy_settings(getattr(self, f.name))
                continue
            _check(f.name, getattr(self, f.name), spec, type(f.default))
        if 0 < self.batch_size < 10:
            raise SynthError(f"batch_size must be 0 (the table's size decides) or at least 10, got {self.batch_size}")
        if self.batch_size % self.pac:
            raise SynthError(f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})")

    def rows_per_step(self, rows: int) -> int:
        """The batch a fit on `rows` training rows draws a step: `batch_size`, or with 0 the table's size decides.
        When the table's size also decides the epochs, a small table makes its `min_steps` updates on smaller,
        cheaper batches (on 2,000 Adult rows, titanic and insurance: the same quality in about half the time;
        BENCHMARKS.md, "Small tables"). Given epochs keep batch 500, so that an epoch costs what it did; so does DP,
        whose noise a larger batch averages out."""
        if self.batch_size:
            return self.batch_size
        if self.privacy is not None or self.epochs:
            return DEFAULT_BATCH
        batch = min(DEFAULT_BATCH, max(SMALL_TABLE_BATCH, rows // 8))
        return max(self.pac, batch - batch % self.pac)


def knobs(exposed_only: bool = True) -> dict[str, tuple[Any, Knob]]:
    """{name: (default, Knob)} of Config's settings, in their order; those a job may set by default."""
    return {f.name: (f.default, f.metadata["knob"]) for f in fields(Config)
            if f.metadata["knob"].exposed or not exposed_only}


def _check(name: str, value: Any, spec: Knob, kind: type) -> None:
    if kind is type(None):  # an optional name (the target)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 300):
            raise SynthError(f"{name} must be a column name or null, got {value!r}")
        return
    if kind is tuple:
        if not isinstance(value, tuple) or not value or (spec.max_items and len(value) > spec.max_items):
            most = f" and at most {spec.max_items}" if spec.max_items else ""
            raise SynthError(f"{name} must be a list of at least one{most} layer widths, got {value!r}")
        for item in value:
            _check(name, item, spec, int)
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise SynthError(f"{name} must be true or false, got {value!r}")
        return
    if spec.choices is not None:
        if value not in spec.choices or not isinstance(value, str):
            raise SynthError(f"{name} must be one of {list(spec.choices)}, got {value!r}")
        return
    numeric = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, numeric):
        raise SynthError(f"{name} must be {'a whole number' if kind is int else 'a number'}, got {value!r}")
    too_low = spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low)
    too_high = spec.high is not None and (value >= spec.high if spec.high_open else value > spec.high)
    if too_low or too_high or (isinstance(value, float) and value != value):
        low = "" if spec.low is None else f"{'above' if spec.low_open else 'at least'} {spec.low}"
        high = "" if spec.high is None else f"{'below' if spec.high_open else 'at most'} {spec.high}"
        raise SynthError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {value!r}")
