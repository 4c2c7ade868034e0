"""Privacy of our engine without differential privacy, per shared dataset: the report's attacks on a trained model.

    SYNTHD_DATASETS=/path/to/datasets .venv/bin/python -m bench.privacy --defaults --epochs 0 --max-rows 10000 \
        --seconds 600 --write

For each table (bench/datasets.py, all of which have a target): the seeded 70/30 split, our engine trained on the
70% (`--epochs`, or fewer when `--seconds` runs out; with `--defaults` at the engine's defaults and naming the
table's target, as a job gets them, else at the benchmark's shared hyperparameters), as many synthetic rows as
training rows, and synth.quality.report against the 30% holdout with the target as the sensitive column. Recorded:
the membership AUCs of both attacks (distance, density) with their limits, the attribute advantage on the target,
the DCR share and exact copies, and the worker's verdict (worker.scoring.assess_privacy) on them. Raw figures go to
bench/out/privacy-<stamp>.json; --write puts the table into BENCHMARKS.md between its markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from bench import common, datasets

REPO = datasets.REPO
OUT = REPO / "bench" / "out"
BENCHMARKS = REPO / "BENCHMARKS.md"
START, END = "<!-- bench:privacy:start -->", "<!-- bench:privacy:end -->"
DEFAULT = "adult,credit_default,king_county,bank_marketing,california_housing,titanic,insurance,covertype_50k"


class NoPrivacyOption(Exception):
    """The engine has no `privacy=` option yet."""


DP_BATCH = 100


def train_ours(train, epochs: int, seed: int, seconds: float | None = None, privacy: dict | None = None,
               settings: dict | None = None, defaults: bool = False):
    """Our engine fitted on `train`; (model, info). By default at the benchmark's shared hyperparameters. With
    `defaults` or `privacy`, at the engine's own defaults, as a job gets them, with `settings` added (epochs 0: the
    default budget). With `privacy` ({"epsilon", "delta"}), trained with differential privacy, or NoPrivacyOption
    when the engine has none."""
    from synth import Synthesizer

    if privacy is None and not defaults:
        hyper = {**common.HYPER, "epochs": epochs, "seed": seed, "device": "cpu"}
    else:
        hyper = {"seed": seed, "device": "cpu"}
        if privacy is not None:
            from synth.config import knobs

            if "privacy" not in knobs(exposed_only=False):
                raise NoPrivacyOption("this engine has no privacy option (issue 17's DP-SGD training): ours is "
                                      "skipped")
            # The engine's defaults but the batch: at 500 of a 2,100-row cut, one epoch alone costs more than
            # epsilon 1 (the 422 a user gets says so); 100 rows a batch samples a twentieth of the table a step.
            hyper |= {"privacy": privacy, "batch_size": DP_BATCH}
        elif epochs:
            hyper["epochs"] = epochs
        hyper |= settings or {}
    model = Synthesizer(**hyper)
    done = []
    start = time.perf_counter()
    model.fit(train, on_epoch=lambda info: done.append(info.epoch) and None, max_seconds=seconds)
    info = {"fit_seconds": time.perf_counter() - start, "epochs_requested": epochs, "epochs_done": len(done)}
    for attr in ("privacy_spent", "epsilon_spent"):  # what the engine says it spent, where it says so
        if hasattr(model, attr):
            info[attr] = getattr(model, attr)
    return model, info


def score(train, holdout, synthetic, target: str, seed: int) -> dict:
    """The report's figures that the privacy and DP tables show, and the worker's verdict on them."""
    from synth.quality import exact_copy_rate, report
    from worker.scoring import assess_privacy

    start = time.perf_counter()
    rep = report(train, synthetic, holdout=holdout, target=target, seed=seed)
    privacy = rep.get("privacy") or {}
    hold = holdout.sample(n=min(len(holdout), 20_000), random_state=seed)
    verdict = assess_privacy(privacy, float(exact_copy_rate(hold, train)), len(hold))
    membership = verdict.get("membership") or {}
    attribute = ((verdict.get("attribute") or {}).get("columns") or {}).get(target) or {}
    tstr = rep.get("tstr") or {}
    pairs = rep.get("column_pair_trends") or {}
    return {
        "overall": rep.get("overall"), "shapes": (rep.get("column_shapes") or {}).get("score"),
        "pairs_strong": pairs.get("strong"), "pairs_all": pairs.get("all"),
        "detection_auc": (rep.get("detection") or {}).get("auc"),
        "tstr_metric": tstr.get("metric"), "tstr_synthetic": tstr.get("synthetic"), "tstr_real": tstr.get("real"),
        "distance_auc": (membership.get("distance") or {}).get("auc"),
        "density_auc": (membership.get("density") or {}).get("auc"),
        "membership_limit": (membership.get("distance") or {}).get("limit"),
        "candidates": (membership.get("distance") or {}).get("candidates"),
        "attribute": {k: attribute.get(k) for k in ("metric", "members", "non_members", "advantage", "limit")},
        "dcr_share": privacy.get("dcr_share"), "exact_copy_rate": privacy.get("exact_copy_rate"),
        "flagged": verdict["flagged"], "reasons": verdict["reasons"],
        "score_seconds": time.perf_counter() - start,
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.privacy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default=DEFAULT, help=f"comma-separated, from {sorted(datasets.DATASETS)}")
    p.add_argument("--epochs", type=int, default=100, help="with --defaults, 0: the engine's default budget")
    p.add_argument("--defaults", action="store_true",
                   help="the engine's defaults, as a job gets them, naming the table's target, instead of the "
                        "shared hyperparameters")
    p.add_argument("--seconds", type=float, default=0, help="training time budget per table (0: none)")
    p.add_argument("--max-rows", type=int, default=0, help="seeded subset of each table (0: whole tables)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = one per core")
    p.add_argument("--write", action="store_true", help="rewrite the privacy section of BENCHMARKS.md")
    p.add_argument("--from-json", help="render a saved bench/out/privacy-*.json, running nothing")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    import pandas as pd  # noqa: F401  (loaded before timing)

    common.set_threads(args.threads)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    OUT.mkdir(parents=True, exist_ok=True)
    record = {"command": common.command_line("bench.privacy", REPO),
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "settings": {k: v for k, v in vars(args).items() if k not in ("write", "from_json")},
              "datasets": {}}
    started = time.perf_counter()
    for name in [datasets.resolve(n.strip()).name for n in args.datasets.split(",") if n.strip()]:
        ds = datasets.resolve(name)
        print(f"[privacy] {name} ...", flush=True)
        whole = datasets.load(name, max_rows=args.max_rows, seed=args.seed)
        train, holdout = datasets.split(whole, seed=args.seed)
        entry = {"rows": len(whole), "train_rows": len(train), "holdout_rows": len(holdout), "target": ds.target}
        try:
            model, info = train_ours(train, args.epochs, args.seed, args.seconds or None,
                                     settings={"target": ds.target} if args.defaults else None,
                                     defaults=args.defaults)
            entry.update(info)
            synthetic = model.sample(len(train), seed=args.seed)
            entry["quality"] = score(train, holdout, synthetic, ds.target, args.seed)
        except Exception as exc:  # one table that fails must not lose the others
            entry["error"] = f"{type(exc).__name__}: {exc}"
        print(f"[privacy] {name}: {json.dumps(entry.get('quality') or entry.get('error'), default=str)[:400]}",
              flush=True)
        record["datasets"][name] = entry
        path = OUT / f"privacy-{stamp}.json"
        path.write_text(json.dumps(record, indent=1, default=str))
    record["wall_seconds"] = time.perf_counter() - started
    (OUT / f"privacy-{stamp}.json").write_text(json.dumps(record, indent=1, default=str))
    return record


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def render(record: dict) -> str:
    s = record["settings"]
    lines = [f"- **Command:** `SYNTHD_DATASETS=/work/shared/datasets {record['command']}`",
             f"- **Date:** {record['date']}; the whole run took {record.get('wall_seconds', 0) / 60:.1f} min on "
             "the shared 2-core development machine",
             "- **Settings:** our engine, "
             + (f"{s['epochs']} epochs" if s["epochs"] else "the default budget")
             + (f" or {s['seconds']:.0f} s per table" if s.get("seconds") else "")
             + (", the engine's defaults with the table's target named, as a job naming it gets them"
                if s.get("defaults") else ", the benchmark's shared hyperparameters")
             + ", seed 0, no DP"
             + (f"; tables cut to {s['max_rows']:,} rows (seeded)" if s.get("max_rows") else "")
             + "; 70/30 split; as many synthetic rows as training rows; the target is the sensitive column",
             "",
             "| dataset | train rows | epochs (s) | overall | membership AUC: distance · density (limit) "
             "| attribute on the target: members · non-members · advantage (limit) | DCR share | exact copies "
             "| flagged |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, e in record["datasets"].items():
        if "error" in e:
            lines.append(f"| {name} | {e.get('train_rows', '–')} | failed: {e['error'][:200]} |" + " |" * 6)
            continue
        q, a = e["quality"], e["quality"]["attribute"]
        metric = {"accuracy": "acc.", "r2": "R²"}.get(a.get("metric"), "")
        lines.append(" | ".join([
            f"| {name} ({e['target']})", f"{e['train_rows']:,}", f"{e['epochs_done']} ({e['fit_seconds']:.0f})",
            _f(q["overall"]),
            f"{_f(q['distance_auc'])} · {_f(q['density_auc'])} ({_f(q['membership_limit'])})",
            f"{metric} {_f(a.get('members'))} · {_f(a.get('non_members'))} · {_f(a.get('advantage'))} "
            f"({_f(a.get('limit'))})",
            _f(q["dcr_share"]), _f(q["exact_copy_rate"], 4),
            ("yes: " + "; ".join(q["reasons"]))[:300] if q["flagged"] else "no"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    record = json.loads(Path(args.from_json).read_text()) if args.from_json else run(args)
    text = render(record)
    print(text)
    if args.write:
        common.write_section(BENCHMARKS, START, END, text, heading="## Privacy without DP (bench/privacy.py)\n\n")
        print(f"[privacy] wrote {BENCHMARKS.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    main()
