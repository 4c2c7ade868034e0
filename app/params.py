"""A training job's parameters: the engine's settings a job may set (their defaults and bounds come from
synth.config, their one source) and the service's own (a time budget, column kinds)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from synth.config import Config, Knob, knobs
from synth.errors import SynthError

MAX_SENSITIVE = 20  # sensitive columns a job may name: each costs the report one nearest-row search

ColumnKind = Literal["continuous", "integer", "categorical", "boolean", "datetime", "constant", "id"]


class _ServiceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    max_seconds: float | None = Field(None, gt=0, le=7 * 86400,
                                      description="Training time budget; training stops (and the model is "
                                      "kept) when it runs out. None: no budget.")
    column_kinds: dict[str, ColumnKind] | None = Field(
        None, description="Override inferred column kinds, e.g. {\"zip\": \"categorical\"}; merged over the "
        "overrides given at upload.")
    target: str | None = Field(
        None, min_length=1, max_length=300,
        description="A column to predict: the model's report then scores its ML utility (TSTR: a model trained "
        "on synthetic rows against one trained on real rows, both tested on the held-out real rows).")

    sensitive: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        None, max_length=MAX_SENSITIVE,
        description="Columns an attacker must not learn from the synthetic rows: the model's report runs an "
        "attribute-inference attack on each (RELIABILITY.md, Privacy). None: the `target`, if any; [] none.")

    @model_validator(mode="after")
    def _engine_accepts(self) -> _ServiceParams:
        """The rules between settings (batch_size a multiple of pac), as the engine states them."""
        if self.sensitive and len(set(self.sensitive)) != len(self.sensitive):
            raise ValueError(f"sensitive names a column more than once: {self.sensitive}")
        try:
            Config(**engine_settings(self.model_dump())).check()
        except SynthError as exc:
            raise ValueError(str(exc)) from None
        return self


def _field(default: Any, spec: Knob, name: str = "") -> tuple[Any, Any]:
    bounds = _bounds(spec)
    if spec.fields is not None:  # a small dict setting: a model of its own, the same bounds
        sub = create_model(
            "".join(part.title() for part in name.split("_")) + "Params",
            __config__=ConfigDict(extra="forbid", strict=True),
            **{key: _sub_field(value, item) for key, (value, item) in spec.fields.items()})
        return sub | None, Field(default, description=spec.doc)
    if isinstance(default, tuple):
        return (list[Annotated[int, Field(**bounds)]],
                Field(list(default), min_length=1, max_length=spec.max_items, description=spec.doc))
    if spec.choices is not None:
        return Literal[spec.choices], Field(default, description=spec.doc)
    return type(default), Field(default, description=spec.doc, **bounds)


def _sub_field(default: Any, item: Knob) -> tuple[Any, Any]:
    """A field of a small dict setting: a number (required when its default is None), or an object of lists
    (privacy.categories and privacy.bounds: checked whole by the engine)."""
    if isinstance(default, dict):
        return (dict[str, list[str | int | float | bool]], Field(default_factory=dict, description=item.doc))
    return float, Field(... if default is None else default, description=item.doc, **_bounds(item))


def _bounds(spec: Knob) -> dict:
    out = {"gt" if spec.low_open else "ge": spec.low} if spec.low is not None else {}
    if spec.high is not None:
        out["lt" if spec.high_open else "le"] = spec.high
    return out


JobParams = create_model(
    "JobParams", __base__=_ServiceParams,
    __doc__="Training knobs; every one has a default and bounds. Types are strict: `\"5\"` or `true` is no epoch "
    "count.",
    **{name: _field(default, spec, name) for name, (default, spec) in knobs().items()},
)


def holdout_rows(rows: int, fraction: float) -> int:
    """Rows a job keeps back to score its model (worker.training.split_holdout): none under 50 rows or 10
    held out."""
    held = int(rows * fraction)
    return 0 if rows < 50 or held < 10 else held


def engine_settings(params: dict) -> dict:
    """The engine's settings among a job's stored parameters, as Synthesizer takes them."""
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in params.items() if name in knobs()}
