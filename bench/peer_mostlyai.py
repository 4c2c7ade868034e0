"""The second peer: mostlyai-engine 2.7.3 (Apache-2.0, an autoregressive tabular model), run under .venv-mostlyai.

It is installed in its own venv (bench/setup_mostlyai.sh) to be measured against; nothing outside this file
imports it. Invoked by bench/engine.py as `.venv-mostlyai/bin/python -m bench.peer_mostlyai --mode budget
--dataset adult --budget-seconds 600 --work-dir DIR`; prints its figures as one JSON line and writes
DIR/result.json and DIR/synthetic.csv.

How it is fed: the training split as it is (it handles nulls and column types itself), with its default model and
settings, and training capped at the run's time budget (its `max_training_time`, in minutes) and its default
100 epochs. Its own rare-value protection stays on, as its users get it.
"""

from __future__ import annotations

import tempfile
import time
import warnings

from bench import common, datasets


def main() -> None:
    args = common.child_args(__doc__)
    warnings.filterwarnings("ignore")
    common.set_threads(args.threads)
    if args.mode != "budget":
        raise SystemExit(f"the mostlyai peer runs the budget mode only, not {args.mode!r}")

    import mostlyai.engine as engine
    from mostlyai.engine import TabularARGN

    engine.set_random_state(args.seed)
    result = {"side": "mostlyai", "version": engine.__version__, "mode": args.mode, "dataset": args.dataset,
              **common.runtime_info()}
    train, _ = datasets.split(datasets.load(args.dataset, max_rows=args.max_rows, seed=args.seed), seed=args.seed)
    with tempfile.TemporaryDirectory() as workspace:
        model = TabularARGN(max_training_time=args.budget_seconds / 60, workspace_dir=workspace, verbose=0)
        start = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - start
        result["budget"] = {"rows": len(train), "max_seconds": args.budget_seconds, "fit_seconds": fit_s}
        model.sample(n_samples=min(5_000, args.sample_rows))  # warm-up
        result["sample"] = common.best_sampling(lambda n: model.sample(n_samples=n), args.sample_rows)
        synthetic = model.sample(n_samples=len(train))
    synthetic.to_csv(f"{args.work_dir}/synthetic.csv", index=False)
    result["synthetic_rows"] = len(synthetic)
    common.emit(args, result)


if __name__ == "__main__":
    main()
