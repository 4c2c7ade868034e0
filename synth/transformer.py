"""Reversible data transformer: a DataFrame to the compact arrays the GAN trains on, and back.

Every modelled column becomes one one-hot *block*; continuous columns also get one scalar:
- continuous, integer and datetime columns: mode-specific normalisation. A variational Gaussian mixture
  (synth.gmm) picks a mode per value; the block is the mode (plus a "null" mode when the column has
  nulls) and the scalar is the value's position inside that mode, (x - mean_k) / (4 std_k). With
  `numeric_encoding` "normal" (or "auto", for a column without a spike) the mixture is one mode over the
  values' normal scores (`normal_scores`) instead of the values.
- categorical, boolean and numeric columns with few distinct values: the block is the category (plus a
  null category). Categories beyond `max_categories` share one "other" slot and are drawn back by their
  frequency, so a block's width, and so memory, stays bounded however many categories a column has.
- a categorical column that is a function of another one (a code and its label, say education and
  education-num) is not modelled at all: it is derived from its source when decoding, so the pair
  keeps its exact relation instead of the GAN having to learn it.
- a numeric column that is the sum of two others on every row (synth.sums) is not modelled either: the
  output adds its parts.
- a numeric column that a category nearly determines (synth.centre) is modelled as its normal score within
  that category, which decoding maps back through the category's quantile function.
- a numeric column that another number nearly orders (synth.follow) is modelled as its normal score among the
  rows near that number, which decoding maps back through the function at the leader's decoded value.
- a numeric column that equals another on a share of the rows (synth.copies) has one more slot in its block, "a
  copy of that number", which decoding fills with the other's decoded value.
- with `min_rows` k above 1 (synth.protect): values held by fewer than k rows are replaced before any of
  this (the marker, a nearest or a frequent value), numeric values are clipped to the schema's bounds
  (which the Synthesizer sets to protected ones), quantiles are means of k order statistics and a
  mixture mode needs k rows' weight.
Rows are stored compactly (a code per block, a float per scalar) and expanded to one-hot per batch.
The generator's output vector is laid out as [scalars | block 0 | block 1 | ...].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from synth.centre import Centre, find_centre
from synth.copies import equal, find_copies
from synth.errors import SynthError
from synth.follow import Follow, decoding_order, find_follows
from synth.gmm import Mixture, fit_mixture
from synth.interp import Interpolator
from synth.protect import MARKER, marker_allowed, protect_discrete, replacements, window_quantiles
from synth.schema import ColumnSpec, Schema, numeric_values
from synth.scores import normal_scores, score_grid
from synth.sums import NumericSum, find_sums

QUANTILES = 257  # points of each continuous column's real quantile function kept for calibration
# With numeric_encoding "auto", a column whose most frequent value holds this share of the rows keeps its modes: a
# spike (no capital gain; 40 hours a week) is then a category the networks can join to others.
SPIKE_SHARE = 0.1
MIN_ROWS_PER_SOURCE_VALUE = 10  # a dependency seen on fewer rows per value is likely chance


@dataclass
class ContinuousEncoder:
    name: str
    mean: float
    std: float
    weights: list[float]
    means: list[float]
    stds: list[float]
    nullable: bool
    quantiles: list[float]  # the real column's quantile function, standardised
    calibration: list[float] | None = None  # the generator's quantile function, set after training
    # True: the mixture models the values' normal scores (their rank mapped onto a standard normal, `normal_scores`),
    # not the values themselves.
    normal: bool = False
    centre: Centre | None = None  # set: the column is modelled as its score within its category (synth.centre)
    follow: Follow | None = None  # set: the column is modelled as its score near another number (synth.follow)
    copies: str | None = None  # set: the column that a slot of the block copies (synth.copies)

    @property
    def spike(self) -> float | None:
        """A follower's value that a slot of the block stands for (synth.follow's Follow.spike)."""
        return None if self.follow is None else self.follow.spike

    # The block's slots: the modes, then the null, a copy of `copies` and `spike`, each where there is one.
    @property
    def width(self) -> int:
        return self.spike_code + int(self.spike is not None)

    @property
    def copy_code(self) -> int:
        return len(self.weights) + int(self.nullable)

    @property
    def spike_code(self) -> int:
        return self.copy_code + int(self.copies is not None)

    def draw(self, n: int, rng) -> np.ndarray:
        """`n` values drawn from the column's quantile function (in the column's units)."""
        quantiles = np.asarray(self.quantiles)
        return self.mean + self.std * np.interp(rng.random(n), np.linspace(0, 1, len(quantiles)), quantiles)

    @property
    def mixture(self) -> Mixture:
        return Mixture(np.array(self.weights), np.array(self.means), np.array(self.stds))

    def decode_map(self) -> Interpolator:
        """The column's value as one piecewise-linear function of the mode coordinate u = 4 mode + alpha:
        mode m's range (alpha in [-1, 1]) is [4m - 1, 4m + 1]. Along it the map is the mode's affine
        (means[m] + 4 stds[m] alpha, standardised), then the calibration map (monotone, from the generator's
        marginal onto the real one, so rank order is kept), then the column's scale; between modes it is
        never used. So decoding a value looks up one segment of one map, not the mode's mean and spread and
        then a segment of the calibration map. Built on first use after each calibration (kept outside the
        dataclass's fields)."""
        built = self.__dict__.get("_decode_map")
        if built is None or built[0] is not self.calibration:
            built = self.calibration, Interpolator(*self._decode_points())
            self.__dict__["_decode_map"] = built
        return built[1]

    def _decode_points(self) -> tuple[np.ndarray, np.ndarray]:
        """decode_map's breakpoints: each mode's ends, and the calibration points within its range (their
        own values, so that a jump, a repeated point, stays a jump)."""
        if self.calibration is not None:
            grid, values = np.asarray(self.calibration), np.asarray(self.quantiles)
        elif self.normal:  # the normal scores' inverse: a score's real quantile
            grid, values = score_grid(len(self.quantiles)), np.asarray(self.quantiles)
        else:
            grid, values = np.array([]), np.array([])
        us, fs = [], []
        for m, (mean, std) in enumerate(zip(self.means, self.stds, strict=True)):
            low, high = mean - 4 * std, mean + 4 * std
            inside = (grid > low) & (grid < high)
            ends = np.array([low, high])
            if len(grid):
                ends = np.interp(ends, grid, values)
            us += [[4 * m - 1], 4 * m + (grid[inside] - mean) / (4 * std), [4 * m + 1]]
            fs += [ends[:1], values[inside], ends[1:]]
        return np.concatenate(us), np.concatenate(fs) * self.std + self.mean


@dataclass
class DiscreteEncoder:
    name: str
    categories: list  # JSON values; None stands for null and, when present, comes last
    frequencies: list[float]  # real frequency of each slot (the "other" slot included)
    rare: list = field(default_factory=list)  # categories folded into the "other" slot
    rare_frequencies: list[float] = field(default_factory=list)
    # How a value it does not know is encoded (synth.protect): "marker" (as the marker category), "nearest"
    # (the nearest category, numbers), "frequent" (a category drawn by frequency); None: the "other" slot.
    suppressed: str | None = None

    @property
    def width(self) -> int:
        return len(self.categories) + int(bool(self.rare))


@dataclass
class Coded:
    """A decoded categorical column kept as codes into its dictionary, so that building the output
    column costs one vectorised take rather than a Python object per cell."""

    codes: np.ndarray  # int64 index into dictionary
    dictionary: list  # JSON values; None is null


@dataclass
class DerivedColumn:
    name: str
    source: str
    source_values: list  # JSON values (None for null); the column's value is values[i] where source is source_values[i]
    values: list

    def derive(self, source: Coded) -> Coded:
        dictionary = list(dict.fromkeys(self.values)) + [None]
        position = np.array([dictionary.index(v) for v in self.values] + [len(dictionary) - 1])
        # For each source dictionary entry, its row in source_values; -1 (never seen) picks the final None.
        row = pd.Index(self.source_values, dtype=object).get_indexer(pd.Series(source.dictionary, dtype=object))
        return Coded(position[row][source.codes], dictionary)


class DataTransformer:
    def __init__(self, schema: Schema, max_modes: int = 10, max_categories: int = 100,
                 gmm_sample: int = 10_000, seed: int = 0, min_rows: int = 1, rare_mode: str = "marker",
                 numeric_encoding: str = "modes"):
        self.schema = schema
        # "modes": every continuous column by mode-specific normalisation; "normal": by its normal scores
        # (ContinuousEncoder.normal); "auto": normal scores for a column without a spike (SPIKE_SHARE), modes else.
        self.numeric_encoding = numeric_encoding
        self.max_modes = max_modes
        self.max_categories = max_categories
        self.gmm_sample = gmm_sample
        self.seed = seed
        self.min_rows = min_rows  # k of synth.protect; 1: no protection
        self.rare_mode = rare_mode
        self.continuous: list[ContinuousEncoder] = []
        self.discrete: list[DiscreteEncoder] = []
        self.blocks: list[tuple[str, int]] = []  # (kind "continuous"|"discrete", index in its list)
        self.derived: list[DerivedColumn] = []  # in decoding order: a source comes before what it determines
        self.sums: list[NumericSum] = []  # numeric totals of two modelled columns (synth.sums), not modelled

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, modelled: set[str] = frozenset()) -> DataTransformer:
        """`modelled`: columns that must be modelled rather than derived from others (a target)."""
        rng = np.random.default_rng(self.seed)
        self.continuous, self.discrete, self.blocks = [], [], []
        discrete = [s for s in self.schema.columns if _is_discrete(s)]
        # Rare values replaced first (synth.protect), so that neither the categories, nor the "other" slot,
        # nor a derived column's table hold one.
        protected = pd.DataFrame({s.name: self._protected(s, df[s.name], rng) for s in discrete}, index=df.index)
        self.derived = find_derived(protected, discrete)
        self.sums = find_sums(df, self.schema.columns, modelled)
        derived = {d.name for d in self.derived} | {t.name for t in self.sums}
        modelled_specs = [s for s in self.schema.columns if s.kind not in ("constant", "id") and s.name not in derived]
        categories = {s.name: self._fit_discrete(s, protected[s.name]) for s in modelled_specs if _is_discrete(s)}
        groups = {name: (encode_discrete(enc, protected[name]), enc.width) for name, enc in categories.items()}
        numbers, centres = {}, {}
        for spec in modelled_specs:
            if spec.name in categories:
                continue
            numbers[spec.name] = self._numbers(df, spec.name)
            centre = None if spec.name in modelled else find_centre(numbers[spec.name], groups, self.min_rows)
            if centre is not None:
                centres[spec.name] = centre
        # Copiers, followers and leaders among plain numbers (not centred; not a datetime); a target neither copies
        # nor follows. A copier's other rows may follow a number, but it leads none: it is decoded last.
        plain = [s.name for s in modelled_specs if s.name in numbers and s.name not in centres
                 and s.kind in ("continuous", "integer")]
        copies = find_copies(numbers, [n for n in plain if n not in modelled],
                             [s.name for s in modelled_specs if s.kind in ("continuous", "integer")
                              and s.name in numbers], self.min_rows)
        rest = {name: self._rest(x, copies.get(name), numbers) for name, x in numbers.items()}
        follows = find_follows(rest, [n for n in plain if n not in modelled],
                               [n for n in plain if n not in copies], self.min_rows)
        for spec in modelled_specs:
            if spec.name in categories:
                self.blocks.append(("discrete", len(self.discrete)))
                self.discrete.append(categories[spec.name])
                continue
            x, centre, follow = rest[spec.name], centres.get(spec.name), follows.get(spec.name)
            if centre is not None:
                x = centre.apply(x, centre.code([groups[name][0] for name in centre.on]), rng)
            if follow is not None:
                x = follow.apply(x, numbers[follow.by], rng, numbers.get(follow.also))
            self.blocks.append(("continuous", len(self.continuous)))
            self.continuous.append(self._fit_continuous(spec, x, bool(df[spec.name].isna().any()), rng))
            enc = self.continuous[-1]
            enc.centre, enc.follow, enc.copies = centre, follow, copies.get(spec.name)
        return self

    @staticmethod
    def _rest(x: np.ndarray, copies: str | None, numbers: dict[str, np.ndarray]) -> np.ndarray:
        """A column's values on the rows its modes model: NaN where it copies its leader (synth.copies)."""
        return x if copies is None else np.where(equal(x, numbers[copies]), np.nan, x)

    def _protected(self, spec: ColumnSpec, series: pd.Series, rng) -> pd.Series:
        return protect_discrete(series, self.min_rows, self.rare_mode, marker_allowed(spec.kind, spec.dtype), rng)

    def _suppressed(self, spec: ColumnSpec) -> str | None:
        if self.min_rows <= 1:
            return None
        if marker_allowed(spec.kind, spec.dtype):
            return self.rare_mode
        return "nearest" if spec.numeric or spec.dtype.startswith(("int", "uint", "float")) else "frequent"

    def _fit_continuous(self, spec: ColumnSpec, x: np.ndarray, nullable: bool, rng) -> ContinuousEncoder:
        """`x`: the column's values inside its bounds, NaN for null and for a copy (centred, if it is:
        synth.centre)."""
        x = x[~np.isnan(x)]
        mean, std = float(x.mean()), float(x.std()) or 1.0
        z = (x - mean) / std
        quantiles = window_quantiles(z, QUANTILES, self.min_rows)
        sample = z if len(z) <= self.gmm_sample else rng.choice(z, self.gmm_sample, replace=False)
        encoding = self.numeric_encoding
        normal = encoding == "normal" or (encoding == "auto" and _spike_share(x) < SPIKE_SHARE)
        if normal:  # normal scores are one Gaussian: one mode
            sample = normal_scores(sample, quantiles, rng)
        # A mode must hold k rows' weight (synth.protect): a one-off value never becomes a mode's mean.
        threshold = {} if self.min_rows <= 1 else {"weight_threshold": max(5e-3, self.min_rows / len(sample))}
        mix = fit_mixture(sample, max_modes=1 if normal else self.max_modes, **threshold)
        return ContinuousEncoder(
            name=spec.name, mean=mean, std=std, weights=mix.weights.tolist(), means=mix.means.tolist(),
            stds=mix.stds.tolist(), nullable=nullable, quantiles=quantiles.tolist(),
            normal=normal)

    def _fit_discrete(self, spec: ColumnSpec, series: pd.Series) -> DiscreteEncoder:
        counts = series.value_counts(dropna=True)
        n = len(series)
        kept, rare = counts.iloc[: self.max_categories], counts.iloc[self.max_categories:]
        categories = [json_value(v) for v in kept.index]
        freqs = (kept.to_numpy() / n).tolist()
        nulls = int(series.isna().sum())
        if nulls:
            categories.append(None)
            freqs.append(nulls / n)
        enc = DiscreteEncoder(name=spec.name, categories=categories, frequencies=freqs,
                              suppressed=self._suppressed(spec))
        if len(rare):
            enc.rare = [json_value(v) for v in rare.index]
            enc.rare_frequencies = (rare.to_numpy() / rare.sum()).tolist()
            enc.frequencies.append(float(rare.sum() / n))
        return enc

    # ---- layout ----------------------------------------------------------------------------------
    @property
    def n_scalars(self) -> int:
        return len(self.continuous)

    def block_widths(self) -> list[int]:
        return [self._encoder(b).width for b in range(len(self.blocks))]

    @property
    def output_dim(self) -> int:
        return self.n_scalars + sum(self.block_widths())

    def discrete_blocks(self) -> list[int]:
        """Blocks that the conditional vector covers: the categorical ones, as in CTGAN."""
        return [b for b, (kind, _) in enumerate(self.blocks) if kind == "discrete"]

    def block_of(self, name: str) -> int | None:
        for b in range(len(self.blocks)):
            if self._encoder(b).name == name:
                return b
        return None

    def source_values(self, name: str, keep) -> tuple[int, list[int]]:
        """For a condition `keep(value)` on a categorical column, modelled or derived: the modelled
        block it rests on and the codes of that block whose rows can satisfy it."""
        derived = {d.name: d for d in self.derived}
        wanted = None
        while name in derived:  # walk up to the modelled source, carrying the set of accepted values
            d = derived[name]
            hits = [sv for sv, v in zip(d.source_values, d.values, strict=True)
                    if (keep(v) if wanted is None else v in wanted)]
            wanted, name = hits, d.source
        block = self.block_of(name)
        enc = self._encoder(block)
        accept = (lambda v: keep(v)) if wanted is None else (lambda v: v in wanted)
        codes = [k for k, v in enumerate(enc.categories) if accept(v)]
        if any(accept(v) for v in enc.rare):
            codes.append(len(enc.categories))
        return block, codes

    def _encoder(self, b: int) -> ContinuousEncoder | DiscreteEncoder:
        kind, i = self.blocks[b]
        return self.continuous[i] if kind == "continuous" else self.discrete[i]

    # ---- forward ---------------------------------------------------------------------------------
    def transform(self, df: pd.DataFrame, seed: int | None = None, draw_unseen_nulls: bool = False,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(scalars float32 (n, n_scalars), codes int32 (n, n_blocks)). Modes are drawn from their
        posterior, so the result depends on `seed` (the transformer's own seed when None).
        `draw_unseen_nulls`: a null in a numeric column whose block has no null slot is given a value drawn from
        the column's quantile function, instead of refused. Under differential privacy (synth.dp) a null count that
        does not pass the noise is not released, so the model knows of no nulls where a few rows hold one."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        n = len(df)
        scalars = np.zeros((n, self.n_scalars), dtype=np.float32)
        codes = np.zeros((n, len(self.blocks)), dtype=np.int32)
        centred = []
        for b, (kind, i) in enumerate(self.blocks):
            if kind == "discrete":
                codes[:, b] = encode_discrete(self.discrete[i], df[self.discrete[i].name], rng)
            elif self.continuous[i].centre is not None:
                centred.append((b, i))  # after its category's codes, which may come in a later block
            else:
                scalars[:, i], codes[:, b] = self._encode_continuous(i, df, rng, draw_nulls=draw_unseen_nulls)
        for b, i in centred:
            centre = self.continuous[i].centre
            scalars[:, i], codes[:, b] = self._encode_continuous(i, df, rng, self._group(centre, codes),
                                                                 draw_nulls=draw_unseen_nulls)
        return scalars, codes

    def _group(self, centre: Centre, codes: np.ndarray) -> np.ndarray:
        """Each row's group for a centred column (synth.centre), from its categories' blocks in `codes`."""
        return centre.code([codes[:, self.block_of(name)] for name in centre.on])

    def _encode_continuous(self, i: int, df: pd.DataFrame, rng, group: np.ndarray | None = None,
                           draw_nulls: bool = False):
        enc = self.continuous[i]
        x = self._numbers(df, enc.name)
        if draw_nulls and not enc.nullable and np.isnan(x).any():
            null = np.isnan(x)
            x = x.copy()  # not the frame's own values
            x[null] = enc.draw(int(null.sum()), rng)
        slot = np.full(len(x), -1)  # a row's slot for an exact value (a copy, a spike), -1 for none
        if enc.spike is not None:
            slot[x == enc.spike] = enc.spike_code
        if enc.copies is not None:
            slot[equal(x, self._numbers(df, enc.copies))] = enc.copy_code
        x = np.where(slot >= 0, np.nan, x)
        if group is not None:
            x = enc.centre.apply(x, group, rng)
        if enc.follow is not None:
            leaders = [self._numbers(df, name) for name in enc.follow.leaders]
            x = enc.follow.apply(x, leaders[0], rng, *leaders[1:])
        return encode_continuous(enc, x, rng, slot)

    def _numbers(self, df: pd.DataFrame, name: str) -> np.ndarray:
        spec = self.schema[name]
        return _clipped(numeric_values(df[name], spec), spec)

    # ---- inverse ---------------------------------------------------------------------------------
    def inverse(self, scalars: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> dict[str, object]:
        """Decoded columns for every modelled or derived column: float arrays for continuous ones
        (datetimes as seconds), `Coded` for categorical ones."""
        out: dict[str, object] = {}
        for b, (kind, i) in enumerate(self.blocks):
            if kind == "continuous":
                enc = self.continuous[i]
                out[enc.name] = decode_continuous(enc, scalars[:, i], codes[:, b])
                if enc.centre is not None:
                    out[enc.name] = enc.centre.undo(out[enc.name], self._group(enc.centre, codes))
            else:
                enc = self.discrete[i]
                out[enc.name] = decode_discrete(enc, codes[:, b], rng)
        numbers = {self.continuous[i].name: (b, self.continuous[i]) for b, (kind, i) in enumerate(self.blocks)
                   if kind == "continuous"}
        follows = {name: enc.follow for name, (_, enc) in numbers.items() if enc.follow is not None}
        for name in decoding_order(follows):  # a leader that follows another is decoded first, its spike too
            out[name] = follows[name].undo(out[name], *(out[lead] for lead in follows[name].leaders))
            b, enc = numbers[name]
            if enc.spike is not None:
                out[name][codes[:, b] == enc.spike_code] = enc.spike
        for b, enc in numbers.values():  # copies last: a copier leads nothing
            if enc.copies is not None:
                copy = codes[:, b] == enc.copy_code
                out[enc.name][copy] = out[enc.copies][copy]
        for d in self.derived:
            out[d.name] = d.derive(out[d.source])
        return out

    # ---- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "max_modes": self.max_modes, "max_categories": self.max_categories,
            "numeric_encoding": self.numeric_encoding,
            "gmm_sample": self.gmm_sample, "seed": self.seed, "min_rows": self.min_rows, "rare_mode": self.rare_mode,
            "continuous": [asdict(e) for e in self.continuous],
            "discrete": [asdict(e) for e in self.discrete],
            "blocks": [list(b) for b in self.blocks],
            "derived": [asdict(d) for d in self.derived],
            "sums": [asdict(t) for t in self.sums],
        }

    @classmethod
    def from_dict(cls, data: dict, schema: Schema) -> DataTransformer:
        t = cls(schema, data["max_modes"], data["max_categories"], data["gmm_sample"], data["seed"],
                data.get("min_rows", 1), data.get("rare_mode", "marker"), data.get("numeric_encoding", "modes"))
        t.continuous = [ContinuousEncoder(**{**e, "centre": e.get("centre") and Centre(**e["centre"]),
                                             "follow": e.get("follow") and Follow(**e["follow"])})
                        for e in data["continuous"]]
        t.discrete = [DiscreteEncoder(**e) for e in data["discrete"]]
        t.blocks = [(k, i) for k, i in data["blocks"]]
        t.derived = [DerivedColumn(**d) for d in data.get("derived", [])]
        t.sums = [NumericSum(**d) for d in data.get("sums", [])]
        return t


def _is_discrete(spec: ColumnSpec) -> bool:
    return spec.kind in ("categorical", "boolean") or (spec.numeric and spec.discrete)


def find_derived(df: pd.DataFrame, specs: list[ColumnSpec]) -> list[DerivedColumn]:
    """Categorical columns that are an exact function of another categorical column.

    A source must have at least as many values as the column it determines (ties: the earlier column
    is the source), so that no two columns derive from each other; it must also be seen on enough rows
    per value that the dependency is not chance."""
    if len(specs) < 2:
        return []
    codes, counts = {}, {}
    for spec in specs:
        c, uniques = pd.factorize(df[spec.name], use_na_sentinel=False)
        codes[spec.name], counts[spec.name] = c.astype(np.int64), len(uniques)
    position = {spec.name: k for k, spec in enumerate(specs)}
    found: dict[str, str] = {}
    for target in specs:
        b = target.name
        for source in specs:
            a = source.name
            if a == b or a in found or (counts[a], -position[a]) <= (counts[b], -position[b]):
                continue
            if len(df) < MIN_ROWS_PER_SOURCE_VALUE * counts[a] or counts[b] < 2:
                continue
            pairs = np.unique(codes[a] * counts[b] + codes[b])
            if len(pairs) == counts[a]:
                found[b] = a
                break
    # A derived column may itself be a source; decode sources first.
    order, seen = [], set()

    def visit(name):
        if name in found and name not in seen:
            visit(found[name])
            seen.add(name)
            order.append(name)

    for name in found:
        visit(name)
    derived = []
    for b in order:
        a = found[b]
        table = df[[a, b]].drop_duplicates(subset=[a])
        derived.append(DerivedColumn(name=b, source=a, source_values=[_null_to_none(v) for v in table[a]],
                                     values=[_null_to_none(v) for v in table[b]]))
    return derived


def _null_to_none(v):
    return None if pd.isna(v) else json_value(v)


def _clipped(x: np.ndarray, spec: ColumnSpec) -> np.ndarray:
    """Values inside the schema's bounds (the protected ones, synth.protect); NaN stays NaN."""
    if spec.minimum is None or spec.maximum is None:
        return x
    return np.clip(x, spec.minimum, spec.maximum)


def encode_continuous(enc: ContinuousEncoder, x: np.ndarray, rng, slot: np.ndarray | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """`slot`: each row's slot for an exact value (a copy, a spike; NaN in `x`), -1 for none."""
    z = (x - enc.mean) / enc.std
    null = np.isnan(z) if slot is None else np.isnan(z) & (slot < 0)
    if not enc.nullable and null.any():  # its code would fall past the block, into the next one-hot
        raise SynthError(f"column {enc.name!r} holds nulls, but the rows this model was fitted on held none there")
    if enc.normal:
        z[~null] = normal_scores(z[~null], np.asarray(enc.quantiles), rng)
    k = len(enc.weights)
    mix = enc.mixture
    zf = np.where(np.isnan(z), 0.0, z)
    logp = mix.log_density(zf)
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    p /= p.sum(1, keepdims=True)
    # Draw each value's mode from its posterior (vectorised inverse-CDF draw).
    u = rng.random(len(z))[:, None]
    mode = np.minimum((p.cumsum(1) < u).sum(1), k - 1)
    alpha = (zf - mix.means[mode]) / (4 * mix.stds[mode])
    alpha = np.clip(alpha, -0.99, 0.99)
    alpha[null] = 0.0
    mode[null] = k  # the null mode
    if slot is not None:
        exact = slot >= 0
        alpha[exact], mode[exact] = 0.0, slot[exact]
    return alpha.astype(np.float32), mode.astype(np.int32)


def _spike_share(x: np.ndarray) -> float:
    """The share of the values that the most frequent one holds."""
    return float(np.unique(x, return_counts=True)[1].max() / len(x)) if len(x) else 0.0


def decode_continuous(enc: ContinuousEncoder, alpha: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Values, NaN for a null and for an exact value's slot (which DataTransformer.inverse writes)."""
    k = len(enc.weights)
    m = np.minimum(mode, k - 1) if enc.width > k else mode
    u = np.multiply(m, 4.0)  # the mode coordinate (ContinuousEncoder.decode_map)
    u += np.clip(alpha, -1, 1)
    x = enc.decode_map()(u)
    if enc.width > k:
        x[mode >= k] = np.nan
    return x


def encode_discrete(enc: DiscreteEncoder, series: pd.Series, rng: np.random.Generator | None = None) -> np.ndarray:
    values = [c for c in enc.categories if c is not None]
    objects = series.astype(object)
    codes = pd.Index(values, dtype=object).get_indexer(objects).astype(np.int32)
    known = len(enc.categories)
    null = series.isna().to_numpy()
    if enc.categories and enc.categories[-1] is None:
        codes[null] = known - 1
    if enc.suppressed is None:
        codes[codes < 0] = known  # a rare category: the "other" slot
        return _within(enc, codes)
    other = (codes < 0) & (pd.Index(enc.rare, dtype=object).get_indexer(objects) >= 0)
    codes[other] = known  # a category of the "other" slot
    unknown = np.flatnonzero((codes < 0) & ~null)  # held by fewer than k rows at fit: protected
    if len(unknown):
        codes[unknown] = _suppressed_codes(enc, objects.to_numpy()[unknown], values, rng)
    codes[codes < 0] = known if enc.rare else 0  # a null in a column that had none: never seen at fit
    return codes


def _within(enc: DiscreteEncoder, codes: np.ndarray) -> np.ndarray:
    """`codes`, unless one falls past the block (a value the fitted rows never held, with no "other" slot to take
    it), where it would spill into the next block's one-hot."""
    if len(codes) and codes.max() >= enc.width:
        raise SynthError(f"column {enc.name!r} holds a value (a category or a null) that the rows this model was "
                         "fitted on did not hold")
    return codes


def _suppressed_codes(enc: DiscreteEncoder, values: np.ndarray, known: list, rng) -> np.ndarray:
    """Codes for values the encoder suppressed (synth.protect): the marker's, or those of the nearest or
    frequent categories that protect_discrete replaced them with at fit."""
    if enc.suppressed == "marker" and MARKER in known:
        return np.full(len(values), known.index(MARKER), dtype=np.int32)
    if enc.suppressed == "marker" and MARKER in enc.rare:
        return np.full(len(values), len(enc.categories), dtype=np.int32)
    if not known:  # only nulls were kept
        return np.full(len(values), -1, dtype=np.int32)
    freqs = np.asarray(enc.frequencies[:len(known)])
    rng = rng if rng is not None else np.random.default_rng(0)
    picked = replacements(values, known, freqs if freqs.sum() > 0 else np.ones(len(known)), rng)
    return pd.Index(known, dtype=object).get_indexer(picked).astype(np.int32)


def decode_discrete(enc: DiscreteEncoder, codes: np.ndarray, rng) -> Coded:
    codes = codes.astype(np.int64)
    k = len(enc.categories)
    other = codes == k
    if other.any():  # the "other" slot: a rare category, drawn by its frequency
        codes[other] = k + rng.choice(len(enc.rare), int(other.sum()), p=enc.rare_frequencies)
    return Coded(codes, enc.categories + enc.rare)


def json_value(v):
    """A category as a JSON-safe python value (numpy scalars unwrapped)."""
    if isinstance(v, np.generic):
        return v.item()
    return v
