"""Score a trained model: the engine's quality report, plus a privacy verdict that every model carries.

The privacy numbers come from synth.quality (definitions in METRICS.md): the exact-copy rate (share of
synthetic rows equal to a training row in every non-ID column) and the DCR share (share of synthetic rows
nearer to a training row than to a holdout row). A model is *flagged* when either says it is copying its
training rows rather than drawing new ones from the same population:

* exact copies: the synthetic copy rate exceeds the rate at which fresh real rows (the holdout, which the model
  never saw) equal a training row, by more than sampling noise allows: max(5 points, 3 standard errors). The
  holdout's own rate is the baseline because a table of a few low-cardinality columns repeats rows by nature;
  without a holdout (tables under 50 rows) the baseline is 0, which is strict on purpose.
* DCR share: above 0.5 by more than max(0.05, 3 standard errors of a fair coin over the rows scored). An honest
  model sits at 0.5; a model that replays its training rows lies well above it. The ceiling for a perfect copier
  is not 1: the training rows are sub-sampled to the holdout's size, so it is 0.5 + 0.5 * holdout / train
  (0.625 with the default 20% holdout), which is why the margin is small and noise-aware rather than a fixed 0.6.

The verdict is stored under report["privacy"]: flagged, reasons, and the thresholds used.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from app.core.jsonsafe import json_safe

log = logging.getLogger("synthd.worker")

EXACT_COPY_MIN_MARGIN = 0.05
DCR_MIN_MARGIN = 0.05
SIGMAS = 3.0


def assess_privacy(privacy: dict, copy_baseline: float | None, holdout_rows: int | None) -> dict:
    """Add `flagged`, `reasons` and `thresholds` to a privacy dict holding exact_copy_rate and dcr_share."""
    out = dict(privacy)
    reasons: list[str] = []
    thresholds: dict[str, float | None] = {"exact_copy_rate": None, "dcr_share": None}
    rate = out.get("exact_copy_rate")
    checked = int(out.get("exact_copy_rows_checked") or 0)
    if rate is not None and checked:
        base = copy_baseline or 0.0
        spread = base * (1 - base) * (1 / checked + (1 / holdout_rows if holdout_rows else 0.0))
        limit = min(1.0, base + max(EXACT_COPY_MIN_MARGIN, SIGMAS * math.sqrt(spread)))
        thresholds["exact_copy_rate"] = round(limit, 4)
        if rate > limit:
            reasons.append(f"{rate:.1%} of synthetic rows are exact copies of training rows, against "
                           f"{base:.1%} of unseen real rows (limit {limit:.1%})")
    share = out.get("dcr_share")
    scored = int(out.get("dcr_synthetic_rows") or 0)
    if share is not None and scored:
        limit = 0.5 + max(DCR_MIN_MARGIN, SIGMAS * 0.5 / math.sqrt(scored))
        thresholds["dcr_share"] = round(limit, 4)
        if share > limit:
            reasons.append(f"{share:.1%} of synthetic rows lie nearer to a training row than to any unseen real "
                           f"row (an honest model: about 50%; limit {limit:.1%})")
    out["copy_baseline"] = copy_baseline
    out["flagged"] = bool(reasons)
    out["reasons"] = reasons
    out["thresholds"] = thresholds
    return out


def score_model(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame | None, seed: int,
                quality_rows: int, target: str | None = None) -> dict:
    """The quality report of `synthetic` against `train` (and `holdout`), with its ML utility when the job named
    a `target`, and a privacy verdict that is computed even when the full report fails or there is no holdout."""
    from synth.quality import DCR_MAX_SYNTHETIC_ROWS, dcr_share, exact_copy_rate, report

    limit = max(10, quality_rows)
    hold = holdout.sample(n=limit, random_state=seed) if holdout is not None and len(holdout) > limit else holdout
    try:
        # Each table sub-sampled to `limit` rows; exact copies counted against every training row.
        out = json_safe(report(train, synthetic, holdout=holdout, target=target if holdout is not None else None,
                               seed=seed, max_rows=limit))
        if target is not None and holdout is None:
            out["notes"].append(f"no ML utility for target {target!r}: tables under 50 rows keep every row for "
                                "training, so there is no holdout to test on")
    except Exception as exc:  # a report that fails must not cost the model, nor its privacy numbers
        log.warning("quality report failed: %s", exc)
        out = {"error": f"quality report failed: {type(exc).__name__}: {exc}"}
    privacy = dict(out.get("privacy") or {})
    notes = []
    if privacy.get("exact_copy_rate") is None:  # the report failed, or there is no holdout
        try:
            privacy["exact_copy_rate"] = float(exact_copy_rate(synthetic, train))
            privacy["exact_copy_rows_checked"] = len(synthetic)
            privacy["exact_copy_training_rows"] = len(train)
        except Exception as exc:
            notes.append(f"exact-copy rate failed: {type(exc).__name__}: {exc}")
            privacy["exact_copy_rate"] = None
    baseline = None
    if hold is not None:
        try:
            baseline = float(exact_copy_rate(hold, train))
        except Exception as exc:
            notes.append(f"copy baseline failed: {type(exc).__name__}: {exc}")
        if privacy.get("dcr_share") is None:
            try:
                real = train.sample(n=limit, random_state=seed) if len(train) > limit else train
                privacy["dcr_share"] = float(dcr_share(synthetic, real, hold, seed=seed))
                privacy["dcr_synthetic_rows"] = min(len(synthetic), DCR_MAX_SYNTHETIC_ROWS)
            except Exception as exc:
                notes.append(f"DCR share failed: {type(exc).__name__}: {exc}")
                privacy["dcr_share"] = None
    else:
        privacy["dcr_share"] = None
        notes.append("no DCR share: tables under 50 rows keep every row for training, so there is no holdout")
    privacy = assess_privacy(json_safe(privacy), baseline, None if hold is None else len(hold))
    privacy["notes"] = notes
    out["privacy"] = privacy
    return out
