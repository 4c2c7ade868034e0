"""The coherence levers: train variants of our engine on one table, score each the same way.

    .venv/bin/python -m bench.levers --dataset adult --epochs 60 --variant base='{}' --variant pac1='{"pac": 1}'
    .venv/bin/python -m bench.levers --dataset adult --epochs 60 --temperatures 1,0.7,0.5,0.35,0.2

Each variant is engine settings as JSON (synth/config.py); all train on the same seeded 70/30 split for the same
epochs with threads="auto", sample as many rows as the training split, and are scored by synth.quality.report
against the holdout (at most 10,000 rows a side): the impossible-combination rate beside the holdout's own, column
shapes, all-pair trends, detection AUC, TSTR on the dataset's target, and the share of rows breaking a pair rule
(synth.rules) beside the holdout's. `--temperatures` instead trains one model
and samples it at each temperature (its category logits divided by it, the biases recalibrated). One JSON line a
result on stdout; BENCHMARKS.md ("Rows that hold together") records the runs.
"""

from __future__ import annotations

import argparse
import json
import time

from bench import datasets


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.levers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="adult")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--variant", action="append", default=[], help="NAME=JSON engine settings; repeatable")
    p.add_argument("--temperatures", default="", help="comma-separated sampling temperatures of one model")
    p.add_argument("--cpu-per-epoch", default="", help="comma-separated pac values: CPU seconds per epoch of each, "
                   "on one thread (4 epochs, the first not counted): a cost that other load does not move")
    p.add_argument("--max-rows", type=int, default=0, help="seeded subset of the table (0: whole)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--without-grid", action="store_true", help="also score each model's rows off the grid their "
                   "real values sit on (synth.output.numeric_grid): the same draws, unrounded")
    return p.parse_args(argv)


def score(model, train, holdout, target: str, seed: int) -> dict:
    from synth.quality import report

    synthetic = model.sample(len(train), seed=seed + 1)
    rep = report(train, synthetic, holdout=holdout, target=target, seed=seed, max_rows=10_000)
    coherence = rep["coherence"] or {}
    return {
        "impossible": coherence.get("impossible_rate"), "holdout": coherence.get("holdout_rate"),
        "worst": [(w["columns"], round(w["rate"], 4)) for w in coherence.get("worst_pairs", [])[:3]],
        "shapes": rep["column_shapes"]["score"], "pairs_all": rep["column_pair_trends"]["all"],
        "detection": (rep["detection"] or {}).get("auc"), "tstr": (rep["tstr"] or {}).get("synthetic"),
        "real": (rep["tstr"] or {}).get("real"), "dcr_share": (rep["privacy"] or {}).get("dcr_share"),
        **rules_broken(model, train, synthetic, holdout, seed),
    }


def rules_broken(model, train, synthetic, holdout, seed: int) -> dict:
    """The share of rows holding a pair of category values that the training rows never hold together though at
    least 10 were expected (synth.rules: what the rule loss teaches), synthetic and held-out."""
    from synth.rules import PairRules

    t = model.transformer
    rules = PairRules.learn(t.transform(train, seed=seed)[1], t.discrete_blocks(), t.block_widths())
    return {"rules": rules.count, "rule_broken": float(rules.broken(t.transform(synthetic, seed=seed)[1]).mean()),
            "rule_broken_holdout": float(rules.broken(t.transform(holdout, seed=seed)[1]).mean())}


def main(argv=None) -> None:
    import torch

    from synth import Synthesizer

    args = parse_args(argv)
    target = datasets.resolve(args.dataset).target
    train, holdout = datasets.split(datasets.load(args.dataset, max_rows=args.max_rows or None), args.seed)
    if args.cpu_per_epoch:
        torch.set_num_threads(1)
        for pac in (int(x) for x in args.cpu_per_epoch.split(",")):
            marks: list[float] = []
            model = Synthesizer(epochs=4, seed=args.seed, pac=pac)
            model.fit(train, on_epoch=lambda _, marks=marks: marks.append(time.process_time()))
            cpu = [b - a for a, b in zip(marks, marks[1:], strict=False)]
            print(json.dumps({"dataset": args.dataset, "pac": pac, "cpu_seconds_per_epoch": cpu}), flush=True)
        return
    if args.temperatures:
        start = time.perf_counter()
        model = Synthesizer(epochs=args.epochs, seed=args.seed).fit(train, threads="auto")
        took = time.perf_counter() - start
        _, codes = model.transformer.transform(train, seed=args.seed)
        head = model._generator.seq[-1]
        weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
        first = model.transformer.n_scalars  # the category logits follow the scalars
        for t in (float(x) for x in args.temperatures.split(",")):
            with torch.no_grad():
                head.weight.copy_(weight)
                head.bias.copy_(bias)
                head.weight[first:] /= t
                head.bias[first:] /= t
            model._calibrate(codes)
            print(json.dumps({"dataset": args.dataset, "variant": f"temperature {t}", "epochs": model.epochs_done,
                              "seconds": round(took), **score(model, train, holdout, target, args.seed)}), flush=True)
        return
    for spec in args.variant:
        name, _, settings = spec.partition("=")
        start = time.perf_counter()
        model = Synthesizer(epochs=args.epochs, seed=args.seed, **json.loads(settings or "{}"))
        model.fit(train, threads="auto")
        print(json.dumps({"dataset": args.dataset, "variant": name, "epochs": model.epochs_done,
                          "seconds": round(time.perf_counter() - start),
                          **score(model, train, holdout, target, args.seed)}), flush=True)
        if args.without_grid:
            for spec in model.schema.columns:
                spec.extra.pop("step", None)
            print(json.dumps({"dataset": args.dataset, "variant": f"{name} without the grid",
                              **score(model, train, holdout, target, args.seed)}), flush=True)


if __name__ == "__main__":
    main()
