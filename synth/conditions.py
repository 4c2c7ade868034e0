"""Sampling conditions: checked and coerced against the trained columns before any row is generated.

`{"sex": "Female", "age": {"min": 30, "max": 40}}`: a categorical or boolean column takes one value
(strings are matched to the real categories, also ignoring surrounding spaces and case, as values arrive
from a query string); a numeric or datetime column takes a range, or one value as a one-point range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.schema import Schema, to_seconds
from synth.transformer import DataTransformer

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


@dataclass
class Plan:
    """How to meet the conditions: categorical blocks to steer the generator to and filter on, and the
    checks on decoded rows (continuous ranges, and conditions the codes alone cannot decide)."""

    discrete: list[tuple[int, list[int]]] = field(default_factory=list)  # (block, accepted codes)
    equals: list[tuple[str, object]] = field(default_factory=list)  # (column, value) checked after decoding
    forced: dict[str, object] = field(default_factory=dict)  # rare categories: set on rows of the "other" slot
    ranges: list[tuple[str, float, float]] = field(default_factory=list)  # (column, low, high), inclusive


def plan_conditions(conditions: dict | None, schema: Schema, transformer: DataTransformer) -> Plan:
    plan = Plan()
    for name, wanted in (conditions or {}).items():
        if name not in schema.names:
            raise SynthError(f"cannot condition on unknown column {name!r}; columns are {schema.names}")
        spec = schema[name]
        if spec.kind == "id":
            raise SynthError(f"cannot condition on {name!r}: it is an ID column, whose values are all new")
        if spec.kind == "constant":
            continue  # checked below, after decoding every row holds the constant anyway
        block = transformer.block_of(name)
        summed = any(t.name == name for t in transformer.sums)  # a total of two columns (synth.sums)
        if summed or (block is not None and transformer.blocks[block][0] == "continuous"):
            low, high = _range(name, wanted, spec)
            plan.ranges.append((name, low, high))
            continue
        if isinstance(wanted, dict):
            if not spec.numeric:
                raise SynthError(f"column {name!r} is {spec.kind}: condition it on one value, not a range")
            low, high = _range(name, wanted, spec)
            steer = transformer.source_values(name, lambda v, lo=low, hi=high: v is not None and lo <= v <= hi)
            if _other_slot_in(transformer, steer):
                plan.ranges.append((name, low, high))
        else:
            value = _match_category(name, wanted, _values_of(transformer, name), spec.kind)
            steer = transformer.source_values(name, lambda v, value=value: v == value)
            if block is not None and value in transformer.discrete[transformer.blocks[block][1]].rare:
                plan.forced[name] = value  # its rows are steered to the "other" slot, then given the value
            elif _other_slot_in(transformer, steer):
                plan.equals.append((name, value))
        _add_steer(plan, steer, name)
    return plan


def _add_steer(plan: Plan, steer: tuple[int, list[int]], name: str) -> None:
    """Conditions that rest on the same block (a column and one derived from it) keep the codes both accept."""
    block, codes = steer
    for i, (other, accepted) in enumerate(plan.discrete):
        if other == block:
            both = [c for c in accepted if c in codes]
            if not both:
                raise SynthError(f"the condition on {name!r} contradicts another condition: the two columns "
                                 "depend on each other, and no row holds both values")
            plan.discrete[i] = (block, both)
            return
    plan.discrete.append(steer)


def _other_slot_in(transformer: DataTransformer, steer: tuple[int, list[int]]) -> bool:
    """Whether the accepted codes include the "other" slot, whose rows take a rare value at random: only
    then do decoded rows need checking; otherwise the codes alone decide the value."""
    block, codes = steer
    return len(transformer.discrete[transformer.blocks[block][1]].categories) in codes


def _values_of(transformer: DataTransformer, name: str) -> list:
    for d in transformer.derived:
        if d.name == name:
            return list(dict.fromkeys(d.values))
    enc = transformer.discrete[transformer.blocks[transformer.block_of(name)][1]]
    return enc.categories + enc.rare


def _range(name: str, wanted, spec) -> tuple[float, float]:
    if isinstance(wanted, dict):
        unknown = set(wanted) - {"min", "max"}
        if unknown:
            raise SynthError(f"range condition on {name!r} takes 'min' and 'max', not {sorted(unknown)}")
        low, high = wanted.get("min"), wanted.get("max")
    else:
        low = high = wanted
    low = spec.minimum if low is None else _number(name, low, spec)
    high = spec.maximum if high is None else _number(name, high, spec)
    if high < spec.minimum or low > spec.maximum:
        raise SynthError(f"range condition on {name!r} is impossible: the column lies in "
                         f"[{_show(spec.minimum, spec)}, {_show(spec.maximum, spec)}]")
    if low > high:
        raise SynthError(f"range condition on {name!r} is empty: min {low} is above max {high}")
    if spec.kind == "integer":  # only whole numbers exist in the column
        low, high = float(np.ceil(low)), float(np.floor(high))
        if low > high:
            raise SynthError(f"condition on {name!r} holds no whole number, and the column has only whole numbers")
    return low, high


def _number(name: str, value, spec) -> float:
    if spec.kind == "datetime":
        seconds = to_seconds(pd.Series([value]), None) if not isinstance(value, (int, float)) else [value]
        if np.isnan(seconds[0]):
            raise SynthError(f"condition on {name!r}: {value!r} is not a date")
        return float(seconds[0])
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SynthError(f"condition on {name!r}: {value!r} is not a number") from None
    if np.isnan(number):
        raise SynthError(f"condition on {name!r}: {value!r} is not a number")
    return number


def _show(x: float, spec) -> str:
    return str(pd.to_datetime(x, unit="s")) if spec.kind == "datetime" else f"{x:g}"


def _match_category(name: str, wanted, values: list, kind: str):
    known = [v for v in values if v is not None]
    if wanted in known and not (isinstance(wanted, bool) and kind != "boolean"):
        return wanted
    text = str(wanted).strip()
    for test in (lambda v: str(v) == text, lambda v: str(v).strip() == text,
                 lambda v: str(v).strip().lower() == text.lower()):
        hits = [v for v in known if test(v)]
        if len(hits) == 1:
            return hits[0]
    if kind == "boolean" and text.lower() in _TRUE | _FALSE:
        truth = text.lower() in _TRUE
        hits = [v for v in known if _truthy(v) is truth]
        if len(hits) == 1:
            return hits[0]
    if isinstance(wanted, (int, float, str)) and not isinstance(wanted, bool):
        try:
            number = float(text)
            hits = [v for v in known if isinstance(v, (int, float)) and float(v) == number]
            if len(hits) == 1:
                return hits[0]
        except ValueError:
            pass
    shown = ", ".join(repr(v) for v in known[:10]) + (", ..." if len(known) > 10 else "")
    raise SynthError(f"column {name!r} has no value {wanted!r}; its values include {shown}")


def _truthy(v) -> bool | None:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    return True if s in _TRUE else False if s in _FALSE else None
