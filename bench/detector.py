"""What the detector reads: which columns and pairs let a classifier tell our rows from real ones.

    .venv/bin/python -m bench.detector --dataset king_county --epochs 60 --pair zipcode,lat --pair lat,long
    .venv/bin/python -m bench.detector --dataset bank_marketing --epochs 30 --settings '{"seed": 1}'

Trains our engine with the dataset's target on `bench.levers`' seeded 70/30 split (threads "auto"), samples as
many rows as the holdout, and scores with `synth.quality.detection_auc` (boosted trees, 3-fold AUC) on the
holdout against those rows: the whole table, the table without each column in turn (the columns whose removal
lowers it most are what it reads), and each `--pair` alone. Each column alone with `--singles`. One JSON line on
stdout; BENCHMARKS.md ("Rows that hold together") records the runs.
"""

from __future__ import annotations

import argparse
import json
import time

from bench import datasets


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.detector", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="adult")
    p.add_argument("--epochs", type=int, default=60, help="0: the engine's own plan (300 epochs or min_steps)")
    p.add_argument("--settings", default="{}", help="engine settings as JSON (synth/config.py), beside the target")
    p.add_argument("--pair", action="append", default=[], help="A,B: also score these two columns alone")
    p.add_argument("--singles", action="store_true", help="also score each column alone")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> None:
    from synth import Synthesizer
    from synth.errors import SynthError
    from synth.quality import detection_auc

    args = parse_args(argv)
    train, holdout = datasets.split(datasets.load(args.dataset), args.seed)
    settings = {"target": datasets.resolve(args.dataset).target, **json.loads(args.settings)}
    start = time.perf_counter()
    model = Synthesizer(epochs=args.epochs, seed=args.seed, **settings).fit(train, threads="auto")
    seconds = round(time.perf_counter() - start)
    synthetic = model.sample(len(holdout), seed=args.seed + 1)

    def auc(columns: list[str]) -> float | None:
        try:
            return round(detection_auc(holdout[columns], synthetic[columns], seed=args.seed), 3)
        except SynthError:  # nothing to compare: an ID column alone, say
            return None

    columns = list(holdout.columns)
    without = {c: auc([x for x in columns if x != c]) for c in columns}
    out = {
        "dataset": args.dataset, "settings": settings, "epochs": model.epochs_done, "seconds": seconds,
        "whole": auc(columns),
        "without": dict(sorted(without.items(), key=lambda kv: 2 if kv[1] is None else kv[1])),
        "pairs": {p: auc(p.split(",")) for p in args.pair},
    }
    if args.singles:
        out["alone"] = {c: auc([c]) for c in columns}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
