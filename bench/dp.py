"""Differential privacy against a DP peer: smartnoise-synth's DPCTGAN, PATECTGAN and MST, and ours with DP.

    bench/setup_dp_peer.sh        # once: .venv-dp with torch==2.13.0 (CPU) and smartnoise-synth==1.0.8
    SYNTHD_DATASETS=/path/to/datasets .venv/bin/python -m bench.dp --datasets adult --epsilons 1,10 --write

For each table, each epsilon and each synthesizer: one child process under .venv-dp (bench/peer_smartnoise.py)
fits the peer on the seeded 70% split at (epsilon, --delta) and writes as many synthetic rows as training rows;
this process scores them against the 30% holdout with our own synth.quality.report (overall, column shapes, pair
trends, TSTR on the target, detection) and its membership attacks (bench/privacy.py's score). With --ours, our
engine trains on the same split with `Synthesizer(..., privacy={"epsilon": e, "delta": d})`; an engine without
that option is skipped with a message saying so. Raw figures go to bench/out/dp-<stamp>.json; --write puts the
table into BENCHMARKS.md between its markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench import common, datasets
from bench.privacy import NoPrivacyOption, score, train_ours

REPO = datasets.REPO
OUT = REPO / "bench" / "out"
BENCHMARKS = REPO / "BENCHMARKS.md"
START, END = "<!-- bench:dp:start -->", "<!-- bench:dp:end -->"
PEERS = ("dpctgan", "patectgan", "mst")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.dp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="adult,bank_marketing,credit_default")
    p.add_argument("--epsilons", default="1,3,10")
    p.add_argument("--delta", type=float, default=1e-6)
    p.add_argument("--synths", default=",".join(PEERS), help=f"peers, from {PEERS}")
    p.add_argument("--epochs", type=int, default=300, help="most epochs for the GANs (DP stops them earlier)")
    p.add_argument("--ours", action="store_true", help="also our engine with privacy={epsilon, delta}")
    p.add_argument("--ours-settings", default="{}", help="JSON of engine settings for ours beside the privacy "
                   "(a lever to compare with the defaults)")
    p.add_argument("--public-categories", action="store_true",
                   help="declare the text columns' values public for ours (privacy.categories), as smartnoise "
                   "takes every peer's categories from the rows")
    p.add_argument("--public-codes", action="store_true",
                   help="with --public-categories, also the numeric columns of at most 20 values: categorical for ours "
                   "(column_kinds), their values public, as smartnoise is fed them (bench/peer_smartnoise.py)")
    p.add_argument("--public-bounds", action="store_true",
                   help="declare the numeric columns' ranges public for ours (privacy.bounds), as smartnoise's were "
                   "where its DP estimate of them failed")
    p.add_argument("--target", action="store_true",
                   help="name each table's target for ours (`target`, as a job's params.target does): under DP its "
                   "pair tables are all released a second time")
    p.add_argument("--max-rows", type=int, default=0, help="seeded subset of each table (0: whole tables)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed to each peer's child")
    p.add_argument("--peer-python", default=str(REPO / ".venv-dp" / "bin" / "python"))
    p.add_argument("--write", action="store_true", help="rewrite the DP section of BENCHMARKS.md")
    p.add_argument("--from-json", help="render saved bench/out/dp-*.json files (comma-separated: one table, "
                   "each run's command and date listed), running nothing; runs of several --seed values are shown "
                   "as their means, with the range over seeds")
    return p.parse_args(argv)


def ours_label(args: argparse.Namespace) -> str:
    """Ours' side in the table, naming what it was told is public."""
    public = [name for name, on in (("categories", args.public_categories), ("codes", _codes(args)),
                                    ("bounds", args.public_bounds)) if on]
    named = ", ".join(public[:-1]) + " and " + public[-1] if len(public) > 1 else "".join(public)
    return "ours" + (f", public {named}" if public else "") + (", target named" if args.target else "")


def public_domains(train, args: argparse.Namespace) -> tuple[dict, dict]:
    """Ours' public domains and the column kinds they need, read off the training split as smartnoise reads its
    peers': ({"categories": ..., "bounds": ...}, {"column_kinds": ...}). With --public-categories, each text
    column's values (not an ID column's: titanic's names); with --public-codes too, the values of each numeric
    column that smartnoise takes as categorical (at most 20 values: bench/peer_smartnoise.py), which ours is told is
    categorical; with --public-bounds, each other numeric column's range."""
    from bench.peer_smartnoise import column_roles
    from synth.schema import infer_schema

    kinds = {s.name: s.kind for s in infer_schema(train).columns}
    codes = [c for c in column_roles(train)[0] if c in datasets.numeric_columns(train)] if _codes(args) else []
    public = {}
    if args.public_categories:
        text = [c for c in train.columns if kinds[c] in ("categorical", "boolean")
                and not pd.api.types.is_numeric_dtype(train[c])]
        public["categories"] = {c: sorted(str(v) for v in train[c].dropna().unique()) for c in text}
        public["categories"] |= {c: sorted(train[c].dropna().unique().tolist()) for c in codes}
    if args.public_bounds:
        numeric = [c for c, kind in kinds.items() if kind in ("continuous", "integer") and c not in codes]
        public["bounds"] = {c: [float(train[c].min()), float(train[c].max())] for c in numeric}
    return public, ({"column_kinds": dict.fromkeys(codes, "categorical")} if codes else {})


def _codes(args: argparse.Namespace) -> bool:
    return args.public_categories and args.public_codes


def run_peer(synth: str, name: str, epsilon: float, args: argparse.Namespace, log_dir: Path) -> dict:
    if not Path(args.peer_python).exists():
        return {"error": f"no DP peer interpreter at {args.peer_python}: run bench/setup_dp_peer.sh"}
    work = Path(tempfile.mkdtemp(prefix=f"{synth}-{name}-{epsilon:g}-", dir=log_dir))
    cmd = [args.peer_python, "-m", "bench.peer_smartnoise", "--synth", synth, "--dataset", name,
           "--epsilon", str(epsilon), "--delta", str(args.delta), "--epochs", str(args.epochs),
           "--max-rows", str(args.max_rows), "--seed", str(args.seed), "--threads", str(args.threads),
           "--work-dir", str(work)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0"}
    print(f"[dp] {synth} ε={epsilon:g} {name} ...", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.timeout)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        def text(data) -> str:
            return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")

        rc, out, err = "timeout", text(exc.stdout), text(exc.stderr)
    wall = time.perf_counter() - start
    (work / "stdout.log").write_text(out)
    (work / "stderr.log").write_text(err)
    if rc != 0 or not (work / "result.json").exists():
        tail = (err or out).strip().splitlines()[-8:]
        print(f"[dp] {synth} ε={epsilon:g} {name} failed ({rc}) after {wall:.0f}s: {' / '.join(tail)[-500:]}",
              flush=True)
        return {"error": f"exit {rc}", "stderr_tail": tail, "wall_seconds": wall}
    result = json.loads((work / "result.json").read_text())
    result.update(wall_seconds=wall, work_dir=str(work))
    print(f"[dp] {synth} ε={epsilon:g} {name} done in {wall:.0f}s", flush=True)
    return result


def run(args: argparse.Namespace) -> dict:
    import pandas as pd

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = OUT / f"dp-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    record = {"command": common.command_line("bench.dp", REPO),
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "settings": {k: v for k, v in vars(args).items() if k not in ("write", "from_json", "peer_python")},
              "datasets": {}, "ours_skipped": None}
    started = time.perf_counter()
    epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    synths = [s.strip() for s in args.synths.split(",") if s.strip()]
    for name in [datasets.resolve(n.strip()).name for n in args.datasets.split(",") if n.strip()]:
        target = datasets.resolve(name).target
        train, holdout = datasets.split(datasets.load(name, max_rows=args.max_rows, seed=args.seed), seed=args.seed)
        entry = record["datasets"][name] = {"train_rows": len(train), "holdout_rows": len(holdout),
                                             "target": target, "runs": []}
        public, kinds = public_domains(train, args)
        for epsilon in epsilons:
            sides = [(s, None) for s in synths] + ([("ours", None)] if args.ours else [])
            for side, _ in sides:
                run_ = {"side": ours_label(args) if side == "ours" else side, "epsilon": epsilon, "delta": args.delta}
                if side == "ours":
                    if record["ours_skipped"]:
                        continue
                    try:
                        common.set_threads(args.threads)
                        model, info = train_ours(train, args.epochs, args.seed,
                                                 privacy={"epsilon": epsilon, "delta": args.delta, **public},
                                                 settings=json.loads(args.ours_settings) | kinds |
                                                 ({"target": target} if args.target else {}))
                    except NoPrivacyOption as exc:
                        record["ours_skipped"] = str(exc)
                        print(f"[dp] ours: {exc}", flush=True)
                        continue
                    run_.update(info, wall_seconds=info["fit_seconds"])
                    synthetic = model.sample(len(train), seed=args.seed)
                else:
                    result = run_peer(side, name, epsilon, args, log_dir)
                    run_.update({k: v for k, v in result.items() if k not in ("side", "epsilon", "delta")})
                    if "error" in result:
                        entry["runs"].append(run_)
                        continue
                    synthetic = pd.read_csv(Path(result["work_dir"]) / "synthetic.csv")
                try:
                    run_["quality"] = score(train, holdout, synthetic, target, args.seed)
                except Exception as exc:  # one failed score must not lose the run's other figures
                    run_["quality"] = {"error": f"{type(exc).__name__}: {exc}"}
                entry["runs"].append(run_)
                (log_dir.with_suffix(".json")).write_text(json.dumps(record, indent=1, default=str))
    record["wall_seconds"] = time.perf_counter() - started
    log_dir.with_suffix(".json").write_text(json.dumps(record, indent=1, default=str))
    print(f"[dp] raw figures: {log_dir.with_suffix('.json').relative_to(REPO)}", flush=True)
    return record


def merge(records: list[dict]) -> dict:
    """Several runs as one record: their commands and dates listed, their rows in the order given, each tagged
    with its run's seed; a side run again at the same ε and seed on the same table replaces the earlier row (a
    rerun after a failure)."""
    if len(records) == 1:
        return records[0]
    out = {**records[0], "runs": [{k: r[k] for k in ("command", "date", "settings")} | {
        "wall_seconds": r.get("wall_seconds", 0)} for r in records], "datasets": {}}
    for r in records:
        for name, e in r["datasets"].items():
            rows = out["datasets"].setdefault(name, {**e, "runs": []})["runs"]
            for run_ in e["runs"]:
                run_ = {**run_, "seed": r["settings"]["seed"]}
                same = [i for i, old in enumerate(rows) if (old["side"], old["epsilon"], old["seed"]) == (
                    run_["side"], run_["epsilon"], run_["seed"])]
                if same:
                    rows[same[0]] = run_
                else:
                    rows.append(run_)
        out["ours_skipped"] = out.get("ours_skipped") or r.get("ours_skipped")
    if any(run_["side"].startswith("ours") for e in out["datasets"].values() for run_ in e["runs"]):
        out["ours_skipped"] = None  # a later run measured ours: an earlier run's skip no longer holds
    for e in out["datasets"].values():
        e["runs"].sort(key=lambda run_: (run_["epsilon"], PEERS.index(run_["side"]) if run_["side"] in PEERS
                                         else len(PEERS)))
    return out


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def render(record: dict) -> str:
    s = record["settings"]
    runs = record.get("runs") or [record]
    lines = [f"- **Command{'s' if len(runs) > 1 else ''}:** "
             + "; ".join(f"`SYNTHD_DATASETS=/work/shared/datasets {r['command']}` ({r['date']}, "
                         f"{r.get('wall_seconds', 0) / 60:.0f} min)" for r in runs)
             + ", on the shared 2-core development machine",
             f"- **Settings:** δ = {s['delta']:g}; GANs at most {s['epochs']} epochs (smartnoise stops them when ε "
             "is spent); smartnoise spends 10% of ε on the continuous columns' bounds"
             + (f"; tables cut to {s['max_rows']:,} rows (seeded)" if s.get("max_rows") else "")
             + "; seeded 70/30 split; as many synthetic rows as training rows; every side scored by "
             "`synth.quality.report` and the report's membership attacks",
             ""]
    sides = {r["side"] for e in record["datasets"].values() for r in e["runs"]}
    if any(side.startswith("ours") for side in sides):
        lines[-1:-1] = ["- **Ours:** the engine's defaults but `batch_size=100`; \"public categories\": each text "
                        "column's values declared public (`privacy.categories`), read off the training split as "
                        "smartnoise reads every peer's categories; \"public codes\": the numeric columns of at most "
                        "20 values too, as categories (`column_kinds`), as smartnoise is fed them; \"public bounds\": "
                        "each other numeric column's range "
                        "too (`privacy.bounds`), as smartnoise's were supplied where its DP estimate failed; "
                        "\"target named\": the table's target given as the job's `target` (a choice, not data: "
                        "its pair tables are released again and taught unshrunk)"]
    if record.get("ours_skipped"):
        lines += [f"Ours is not in this table: {record['ours_skipped']}.", ""]
    seeds = sorted({r.get("seed", s.get("seed", 0)) for e in record["datasets"].values() for r in e["runs"]})
    if len(seeds) > 1:
        lines += _means_table(record, seeds)
    else:
        lines += _runs_table(record)
    notes = [f"{name} ε={r['epsilon']:g} {r['side']}: {r['epochs_begun']} epochs begun, the accountant's ε "
             f"{r['epsilon_last_checked']:.2f} at the last check" for name, e in record["datasets"].items()
             for r in e["runs"] if r.get("epochs_begun")]
    if notes:
        lines += ["", "DPCTGAN's training length: " + "; ".join(notes) + "."]
    supplied = [f"{name} ε={r['epsilon']:g} {r['side']}" + (f" (seed {r['seed']})" if len(seeds) > 1 else "")
                for name, e in record["datasets"].items()
                for r in e["runs"] if str(r.get("bounds", "")).startswith("supplied")]
    if supplied:
        lines += ["", "Bounds supplied from the training split (smartnoise's DP estimate of a continuous column's "
                  "bounds failed; all of ε went to the synthesizer, and the run is DP only if those bounds are "
                  "public): " + ", ".join(supplied) + "."]
    return "\n".join(lines) + "\n"


def _failure(r: dict) -> str | None:
    """Why a run has no figures, or None."""
    q = r.get("quality") or {}
    if "error" not in r and "error" not in q:
        return None
    why = r.get("error") or q.get("error")
    tail = " / ".join(r.get("stderr_tail", [])[-2:])
    if why == "exit timeout":
        why, tail = f"did not finish within the {r.get('wall_seconds', 0):.0f} s timeout", ""
    return f"{why} {tail}"


def _metric(q: dict) -> str:
    return {"macro_f1": "F1", "r2": "R²"}.get(q.get("tstr_metric"), "")


def _runs_table(record: dict) -> list[str]:
    """One row per run."""
    lines = ["| dataset | ε | side | overall | shapes | pairs (all) | TSTR (real) | detection AUC "
             "| membership AUC: distance · density (limit) | fit s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in record["datasets"].items():
        for r in e["runs"]:
            head = f"| {name} ({e['train_rows']:,} train rows) | {r['epsilon']:g} | {r['side']}"
            why = _failure(r)
            if why is not None:
                lines.append(f"{head} | failed: {why}"[:400] + " |" * 7)
                continue
            q = r["quality"]
            lines.append(" | ".join([
                head, _f(q["overall"]), _f(q["shapes"]), _f(q["pairs_all"]),
                f"{_metric(q)} {_f(q['tstr_synthetic'])} ({_f(q['tstr_real'])})", _f(q["detection_auc"]),
                f"{_f(q['distance_auc'])} · {_f(q['density_auc'])} ({_f(q['membership_limit'])})",
                _f(r.get("fit_seconds"), 0)]) + " |")
    return lines


def _means_table(record: dict, seeds: list[int]) -> list[str]:
    """One row per table, ε and side: each figure's mean over the seeds' runs (each seed its own cut, split and
    noise), overall and TSTR with their range, membership the highest AUC of any seed: a single run's TSTR moves
    by 0.05-0.15 between seeds on either side."""
    lines = [f"Means over the seeds run, of {', '.join(map(str, seeds))} (each seed its own cut of the table, split "
             "and noise; \"runs\" counts a row's); overall and TSTR with their lowest and highest run, membership the "
             "highest AUC of any run.", "",
             "| dataset | ε | side | runs | overall (range) | shapes | pairs (all) | TSTR (range) (real) "
             "| detection AUC | membership AUC, highest: distance · density (limit) | fit s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in record["datasets"].items():
        groups: dict[tuple, list[dict]] = {}
        for r in e["runs"]:
            groups.setdefault((r["epsilon"], r["side"]), []).append(r)
        for (epsilon, side), runs in groups.items():
            done = [r for r in runs if _failure(r) is None]
            head = f"| {name} ({e['train_rows']:,} train rows) | {epsilon:g} | {side} | {len(done)} of {len(runs)}"
            if not done:
                lines.append(f"{head} | failed: {_failure(runs[0])}"[:400] + " |" * 7)
                continue
            q = [r["quality"] for r in done]
            lines.append(" | ".join([
                head, _ranged(q, "overall"), _f(_mean(q, "shapes")), _f(_mean(q, "pairs_all")),
                f"{_metric(q[0])} {_ranged(q, 'tstr_synthetic')} ({_f(_mean(q, 'tstr_real'))})",
                _f(_mean(q, "detection_auc")),
                f"{_f(max(x['distance_auc'] for x in q))} · {_f(max(x['density_auc'] for x in q))} "
                f"({_f(_mean(q, 'membership_limit'))})",
                _f(sum(r.get("fit_seconds") or 0 for r in done) / len(done), 0)]) + " |")
    return lines


def _mean(rows: list[dict], key: str) -> float:
    return sum(x[key] for x in rows) / len(rows)


def _ranged(rows: list[dict], key: str) -> str:
    """The mean, then the lowest and highest run: "0.612 (0.592–0.656)"."""
    return f"{_f(_mean(rows, key))} ({_f(min(x[key] for x in rows))}–{_f(max(x[key] for x in rows))})"


def main(argv=None) -> None:
    args = parse_args(argv)
    record = merge([json.loads(Path(p).read_text()) for p in args.from_json.split(",")]) if args.from_json \
        else run(args)
    text = render(record)
    print(text)
    if args.write:
        common.write_section(BENCHMARKS, START, END, text,
                             heading="## Differential privacy against smartnoise (bench/dp.py)\n\n")
        print(f"[dp] wrote {BENCHMARKS.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
