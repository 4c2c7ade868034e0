"""The report to forward (GET /v1/models/{id}/report.html) and the words the model page and the report share: the
privacy verdict in plain words, and how each number is computed.

The report is one HTML file: the chart data as JSON, Vega, Vega-Lite, vega-embed and the charts' script inline,
and a Content-Security-Policy meta tag that allows no request at all, so it opens on a machine without network
and cannot call home wherever it is forwarded."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup

from app.api.ui.render import environment, inline_script, static_text
from app.models import Dataset, Job

# How each number is computed, in two lines each (METRICS.md has the full definitions).
EXPLANATIONS = {
    "overall": ("Overall quality: the mean of the column-shapes score and the pair-trends score over strongly "
                "associated pairs.", "1 is a perfect match of the real table's distributions; it measures "
                "fidelity, not privacy."),
    "column_shapes": ("Column shapes: per column, 1 minus the Kolmogorov-Smirnov distance (numbers, dates) or "
                      "1 minus the total variation distance (categories; null counts as a category).",
                      "The score is the mean over columns; the histograms below show each column's real and "
                      "synthetic shares on the same bins."),
    "pair_trends": ("Pair trends: for two numeric columns 1 - |Pearson real - Pearson synthetic| / 2; for other "
                    "pairs 1 minus the total variation distance of their joint frequency tables.",
                    "The heatmaps show the association itself (Pearson, or Cramér's V with numbers in 10 bins) on "
                    "each side and its absolute difference."),
    "detection_auc": ("Detection AUC: gradient-boosted trees are trained, with 3-fold cross-validation, to tell "
                      "held-out real rows from synthetic rows.", "0.5 means they cannot tell them apart; 1.0 "
                      "means every synthetic row is recognisable."),
    "tstr": ("ML utility (TSTR): a model trained on synthetic rows and one trained on real rows both predict "
             "the target on held-out real rows.", "Scores are macro-F1 (classification) or R² (regression); "
             "a small gap means the synthetic table is as useful for training."),
    "impossible_combinations": ("Impossible combinations: the share of synthetic rows holding a pair of "
                                "category values that never occurs together in the training rows.",
                                "It is compared with the same rate for held-out real rows (the baseline), "
                                "which a real table also shows."),
    "exact_copy_rate": ("Exact copies: the share of synthetic rows equal to a training row in every column "
                        "(ID columns aside).", "Compared with the share of held-out real rows that equal a "
                        "training row, since small tables repeat rows by nature."),
    "dcr_share": ("DCR share: the share of synthetic rows whose nearest real row is a training row rather than "
                  "a held-out one (equal-sized sets, range-scaled distances).", "About 50% is an honest "
                  "model; well above means it stays close to the rows it was trained on."),
    "histograms": ("Column charts: numbers share 20 bins between the real 0.5th and 99.5th percentiles (values "
                   "beyond count in the outer bins); categories show the 20 most frequent real values.",
                   "A category fewer than 5 real rows hold is counted under 'other', so rare values are never "
                   "shown."),
    "losses": ("Losses: the generator's and the critic's Wasserstein losses (with gradient penalty), and the "
               "conditional loss (cross-entropy of the conditioned column), averaged per epoch.",
               "GAN losses do not fall steadily; look for them to settle rather than to reach zero."),
}

# Privacy numbers the report knows, in plain words; any other numeric key is listed under its own name.
PRIVACY_WORDS = {
    "exact_copy_rate": ("Synthetic rows that exactly copy a training row", "percent"),
    "copy_baseline": ("Unseen real rows that equal a training row (the baseline)", "percent"),
    "dcr_share": ("Synthetic rows nearer to a training row than to an unseen real row (about 50% is honest)",
                  "percent"),
    "exact_copy_rows_checked": ("Synthetic rows checked for copies", "count"),
    "exact_copy_training_rows": ("Training rows compared against", "count"),
    "dcr_synthetic_rows": ("Synthetic rows in the distance check", "count"),
    "dcr_reference_rows": ("Training and unseen real rows each, in the distance check", "count"),
    "median_dcr_train": ("Median distance from a synthetic row to its nearest training row", "number"),
    "median_dcr_holdout": ("Median distance from a synthetic row to its nearest unseen real row", "number"),
    "membership": ("Membership inference: how well an attacker tells training rows from unseen ones (AUC, 0.5 "
                   "is chance)", "number"),
    "attribute": ("Attribute inference: how much better an attacker guesses a sensitive column for training rows "
                  "than for unseen ones (advantage, 0 is nothing learned)", "number"),
}
_SKIP = {"flagged", "reasons", "thresholds", "notes"}


def _format(value, unit: str) -> str:  # noqa: ANN001
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "percent":
        return f"{100 * float(value):.2f}%"
    if unit == "count" or isinstance(value, int):
        return f"{int(value):,}"
    return f"{float(value):.4f}"


def _words(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _flatten(key: str, value, out: list[dict], label: str, unit: str) -> None:  # noqa: ANN001
    """A number as one line; a block of numbers (an attack's AUCs, a DP budget) as one line per number."""
    if isinstance(value, bool | int | float) or value is None:
        out.append({"key": key, "label": label, "value": _format(value, unit)})
    elif isinstance(value, dict):
        for sub, inner in value.items():
            if isinstance(inner, bool | int | float | dict) and sub not in _SKIP:
                _flatten(f"{key}.{sub}", inner, out, f"{label}: {_words(sub).lower()}", "number")


def privacy_view(privacy: dict | None) -> dict:
    """The privacy verdict in plain words and its numbers, generically: known keys in words, then any other
    number (or block of numbers, like a future attack's or a DP budget's) under its own name."""
    if not isinstance(privacy, dict):
        return {"state": "unknown", "headline": "No privacy assessment is stored for this model.", "reasons": [],
                "numbers": [], "notes": []}
    flagged = privacy.get("flagged")
    reasons = [str(r) for r in privacy.get("reasons") or []]
    if flagged:
        headline = ("Flagged: this model appears to copy rows of its training data. Do not share its samples as "
                    "anonymous until the reasons below are understood.")
    elif flagged is False:
        headline = ("Not flagged: the synthetic rows copy training rows no more often than unseen real rows do, "
                    "lie no nearer to the training rows than to unseen ones, and the membership and attribute "
                    "attacks learn no more from them than chance allows, within sampling noise.")
    else:
        headline = "The privacy checks could not run for this model; see the notes."
    numbers: list[dict] = []
    for key, (label, unit) in PRIVACY_WORDS.items():
        if key in privacy:
            _flatten(key, privacy[key], numbers, label, unit)
    for key, value in privacy.items():
        if key in PRIVACY_WORDS or key in _SKIP:
            continue
        if isinstance(value, bool | int | float | dict):
            _flatten(key, value, numbers, _words(key), "number")
    for key, limit in (privacy.get("thresholds") or {}).items():
        if limit is not None:  # a share (copies, DCR) in percent; an attack's AUC or advantage as a number
            unit = "number" if isinstance(limit, dict) or "auc" in key or "advantage" in key else "percent"
            _flatten(f"thresholds.{key}", limit, numbers, f"Limit for {_words(key).lower()} (flagged above)", unit)
    return {"state": "flagged" if flagged else "ok" if flagged is False else "unknown", "headline": headline,
            "reasons": reasons, "numbers": numbers, "notes": [str(n) for n in privacy.get("notes") or []]}


def explanations() -> dict[str, tuple[str, str]]:
    return EXPLANATIONS


def _setting(value) -> str:  # noqa: ANN001
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " x ".join(str(v) for v in value)
    return str(value)


def _settings(params: dict | None) -> list[tuple[str, str]]:
    return [(key, _setting(value)) for key, value in sorted((params or {}).items()) if value is not None]


def render_report(model: dict, dataset: Dataset | None, job: Job | None) -> str:
    """The self-contained report of one model (`model`: its ModelOut as JSON)."""
    report = model.get("report") or {}
    return environment().get_template("report.html").render(
        model=model, report=report, dataset=dataset, job=job, how=EXPLANATIONS,
        privacy=privacy_view(report.get("privacy")), settings=_settings(model.get("params")),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        styles=Markup(static_text("css/app.css")),
        scripts=[inline_script(f"vendor/vega/{name}") for name in ("vega.min.js", "vega-lite.min.js",
                                                                  "vega-embed.min.js")]
        + [inline_script("js/charts.js")],
    )
