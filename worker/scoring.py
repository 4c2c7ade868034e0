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
* membership inference (synth/privacy.py): either attack's ROC AUC (distance, density) above 0.5 by more than
  max(0.05, 3 standard errors of the AUC of a blind attacker over the candidates: sqrt((m + n + 1) / (12 m n)),
  m members and n non-members). One-sided: an attacker commits to "nearer means member" beforehand.
* attribute inference, per sensitive column: the advantage (accuracy or R² on training rows minus on holdout
  rows) above max(0.05, 3 standard errors of that advantage when membership changes nothing, `noise_se`).

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
MEMBERSHIP_MIN_MARGIN = 0.05
ATTRIBUTE_MIN_MARGIN = 0.05
SIGMAS = 3.0
ATTACK_NAMES = {"distance": "nearest synthetic row", "density": "synthetic over real density, DOMIAS"}


def assess_privacy(privacy: dict, copy_baseline: float | None, holdout_rows: int | None) -> dict:
    """Add `flagged`, `reasons` and `thresholds` to a privacy dict holding exact_copy_rate and dcr_share, and
    where the report has them, the membership and attribute attacks (each figure also gets its `limit`)."""
    out = dict(privacy)
    reasons: list[str] = []
    thresholds: dict = {"exact_copy_rate": None, "dcr_share": None, "membership_distance_auc": None,
                        "membership_density_auc": None, "attribute_advantage": {}}
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
    _assess_attacks(out, reasons, thresholds)
    out["copy_baseline"] = copy_baseline
    out["flagged"] = bool(reasons)
    out["reasons"] = reasons
    out["thresholds"] = thresholds
    return out


def membership_limit(members: int, non_members: int) -> float:
    """The AUC above which a membership attack flags a model: 0.5 + max(5 points, 3 standard errors of a blind
    attacker's AUC over these candidates)."""
    noise = math.sqrt((members + non_members + 1) / (12.0 * members * non_members))
    return 0.5 + max(MEMBERSHIP_MIN_MARGIN, SIGMAS * noise)


def attribute_limit(noise_se: float | None) -> float:
    """The advantage above which an attribute attack flags a model: max(5 points, 3 standard errors)."""
    return max(ATTRIBUTE_MIN_MARGIN, SIGMAS * (noise_se or 0.0))


def _assess_attacks(out: dict, reasons: list[str], thresholds: dict) -> None:
    """Each attack figure gets its `limit`; those above it add a reason."""
    membership = out.get("membership")
    if isinstance(membership, dict):
        membership = out["membership"] = {k: dict(v) if isinstance(v, dict) else v for k, v in membership.items()}
        for attack in ("distance", "density"):
            figure = membership.get(attack)
            if not isinstance(figure, dict) or figure.get("auc") is None:
                continue
            m, n = figure["candidates"]["members"], figure["candidates"]["non_members"]
            limit = round(membership_limit(m, n), 4)
            figure["limit"] = thresholds[f"membership_{attack}_auc"] = limit
            if figure["auc"] > limit:
                reasons.append(f"membership attack ({ATTACK_NAMES[attack]}) tells training rows from unseen real "
                               f"rows with AUC {figure['auc']:.3f} over {m} of each (nothing learned: 0.5; "
                               f"limit {limit:.3f})")
    attribute = out.get("attribute")
    if isinstance(attribute, dict):
        attribute = out["attribute"] = {**attribute, "columns": {c: dict(f) for c, f in
                                                                 (attribute.get("columns") or {}).items()}}
        limits = thresholds["attribute_advantage"]
        for column, figure in attribute["columns"].items():
            if figure.get("advantage") is None:
                continue
            limit = round(attribute_limit(figure.get("noise_se")), 4)
            figure["limit"] = limits[column] = limit
            if figure["advantage"] > limit:
                if figure["metric"] == "accuracy":
                    said = (f"guesses {column!r} right for {figure['members']:.1%} of training rows against "
                            f"{figure['non_members']:.1%} of unseen real rows (advantage {figure['advantage']:+.1%}, "
                            f"limit {limit:.1%})")
                else:
                    said = (f"guesses {column!r} with R² {figure['members']:.2f} on training rows against "
                            f"{figure['non_members']:.2f} on unseen real rows (advantage {figure['advantage']:+.2f}, "
                            f"limit {limit:.2f})")
                reasons.append("attribute attack (nearest synthetic row on the other columns) " + said)


def score_model(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame | None, seed: int,
                quality_rows: int, target: str | None = None, sensitive: list[str] | None = None) -> dict:
    """The quality report of `synthetic` against `train` (and `holdout`), with its ML utility when the job named
    a `target`, the attacks on the `sensitive` columns (by default the target), and a privacy verdict that is
    computed even when the full report fails or there is no holdout."""
    from synth.privacy import attacks
    from synth.quality import DCR_MAX_SYNTHETIC_ROWS, dcr_share, exact_copy_rate, report

    limit = max(10, quality_rows)
    notes = []
    if sensitive:  # a column the job named that holds no value in the training rows cannot be attacked
        empty = [c for c in sensitive if c not in train.columns or train[c].isna().all()]
        if empty:
            notes.append(f"no attribute attack on {empty}: no values in the training rows")
            sensitive = [c for c in sensitive if c not in empty]
    hold = holdout.sample(n=limit, random_state=seed) if holdout is not None and len(holdout) > limit else holdout
    try:
        # Each table sub-sampled to `limit` rows; exact copies counted against every training row.
        out = json_safe(report(train, synthetic, holdout=holdout, target=target if holdout is not None else None,
                               seed=seed, max_rows=limit, sensitive=sensitive))
        if target is not None and holdout is None:
            out["notes"].append(f"no ML utility for target {target!r}: tables under 50 rows keep every row for "
                                "training, so there is no holdout to test on")
    except Exception as exc:  # a report that fails must not cost the model, nor its privacy numbers
        log.warning("quality report failed: %s", exc)
        out = {"error": f"quality report failed: {type(exc).__name__}: {exc}"}
    privacy = dict(out.get("privacy") or {})
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
        if "membership" not in privacy:
            try:
                real = train.sample(n=limit, random_state=seed) if len(train) > limit else train
                found = attacks(synthetic, real, hold, [target] if sensitive is None and target else sensitive,
                                seed=seed)
                notes.extend(found.pop("attack_notes"))
                privacy.update(found)
            except Exception as exc:
                notes.append(f"membership and attribute attacks failed: {type(exc).__name__}: {exc}")
                privacy["membership"] = privacy["attribute"] = None
    else:
        privacy["dcr_share"] = None
        privacy["membership"] = privacy["attribute"] = None
        notes.append("no DCR share: tables under 50 rows keep every row for training, so there is no holdout")
        notes.append("no membership or attribute attack: they need unseen real rows, and there is no holdout")
    privacy = assess_privacy(json_safe(privacy), baseline, None if hold is None else len(hold))
    privacy["notes"] = notes
    out["privacy"] = privacy
    return out
