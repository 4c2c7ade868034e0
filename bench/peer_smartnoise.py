"""The DP peer's side of the benchmark: smartnoise-synth 1.0.8 (MIT), run under .venv-dp only.

Invoked by bench/dp.py as `.venv-dp/bin/python -m bench.peer_smartnoise --synth dpctgan --epsilon 1 --dataset
adult --work-dir DIR`; fits the synthesizer on the seeded 70% split at (epsilon, delta), prints its figures as one
JSON line and writes DIR/result.json and DIR/synthetic.csv (as many rows as the training split), the same child
protocol as bench/peer_ctgan.py. bench/setup_dp_peer.sh makes the venv.

How the peer is fed: categorical columns are the non-numeric ones and the numeric ones with at most 20 distinct
values (a user would declare an income bracket or a 0/1 flag so); the other numeric columns are continuous.
smartnoise's preprocessing needs bounds for continuous columns: it spends `--preprocessor-share` of epsilon
(10% by default) to estimate them, and the synthesizer trains on the rest: the whole run is (epsilon, delta)-DP.
Where that estimate fails (too few rows for the share), the bounds are supplied, as smartnoise advises, from the
training split itself; the result says so (`bounds`), and such a run is DP only if the bounds are public.
Nulls are kept (`nullable=True`).
"""

from __future__ import annotations

import argparse
import time
import warnings

from bench import common, datasets

SYNTHS = ("dpctgan", "patectgan", "mst")
CATEGORICAL_MAX_VALUES = 20


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--synth", choices=SYNTHS, required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, default=1e-6)
    p.add_argument("--epochs", type=int, default=300, help="GANs: most epochs (training stops when ε is spent)")
    p.add_argument("--preprocessor-share", type=float, default=0.1,
                   help="share of epsilon spent on the continuous columns' bounds")
    p.add_argument("--max-rows", type=int, default=0, help="seeded subset of the table")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--work-dir", required=True)
    return p.parse_args()


def column_roles(df) -> tuple[list[str], list[str]]:
    numeric = set(datasets.numeric_columns(df))
    categorical = [c for c in df.columns if c not in numeric or df[c].nunique() <= CATEGORICAL_MAX_VALUES]
    continuous = [c for c in df.columns if c not in categorical]
    return categorical, continuous


def make(synth: str, epsilon: float, delta: float, epochs: int):
    from snsynth import Synthesizer

    if synth == "mst":
        return Synthesizer.create("mst", epsilon=epsilon, delta=delta, verbose=False)
    # smartnoise's GAN defaults are CTGAN's (256-256 networks, batch 500, Adam 2e-4), as ours
    return Synthesizer.create(synth, epsilon=epsilon, delta=delta, epochs=epochs, cuda=False, verbose=False)


def main() -> None:
    args = parse_args()
    warnings.filterwarnings("ignore")
    common.set_threads(args.threads)
    import importlib.metadata as md

    import numpy as np
    import torch

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    result = {"side": args.synth, "version": md.version("smartnoise-synth"), "dataset": args.dataset,
              "epsilon": args.epsilon, "delta": args.delta, **common.runtime_info()}
    whole = datasets.load(args.dataset, max_rows=args.max_rows, seed=args.seed)
    train, _ = datasets.split(whole, seed=args.seed)
    categorical, continuous = column_roles(train)
    pre_eps = args.epsilon * args.preprocessor_share if continuous else 0.0
    nullable = bool(train.isna().any().any())
    # smartnoise takes the whole epsilon and spends preprocessor_eps of it on the bounds itself
    model = make(args.synth, args.epsilon, args.delta, args.epochs)
    start = time.perf_counter()
    try:
        model.fit(train, categorical_columns=categorical, continuous_columns=continuous, preprocessor_eps=pre_eps,
                  nullable=nullable)
        result["bounds"] = "dp"
    except ValueError as exc:
        if "could not find bounds" not in str(exc):
            raise
        # Too few rows for a DP estimate of some column's bounds at this ε. smartnoise's documented way out is
        # bounds the user supplies; here they are the training split's own, which a strict DP run would not use
        # (they are then public knowledge by assumption), and the whole ε goes to the synthesizer.
        from snsynth.transform import BinTransformer, MinMaxTransformer, TableTransformer

        def bounded(column):
            lo, hi = float(train[column].min()), float(train[column].max())
            if args.synth == "mst":
                return BinTransformer(bins=20, lower=lo, upper=hi, nullable=nullable)
            return MinMaxTransformer(lower=lo, upper=hi, nullable=nullable)

        transformer = TableTransformer.create(
            train, style="cube" if args.synth == "mst" else "gan", nullable=nullable,
            categorical_columns=categorical, continuous_columns=continuous,
            constraints={c: bounded(c) for c in continuous})
        model = make(args.synth, args.epsilon, args.delta, args.epochs)
        start = time.perf_counter()
        model.fit(train, transformer=transformer, categorical_columns=categorical, continuous_columns=continuous,
                  preprocessor_eps=0.0, nullable=nullable)
        pre_eps = 0.0
        result["bounds"] = f"supplied from the data after the DP estimate failed ({exc})"
    fit_s = time.perf_counter() - start
    synthetic = model.sample(len(train))
    synthetic = synthetic[list(train.columns)] if set(train.columns) <= set(synthetic.columns) else synthetic
    synthetic.to_csv(f"{args.work_dir}/synthetic.csv", index=False)
    result.update(rows=len(train), fit_seconds=fit_s, synthetic_rows=len(synthetic),
                  categorical_columns=categorical, continuous_columns=continuous, preprocessor_eps=pre_eps,
                  synthesizer_eps=args.epsilon - pre_eps, epochs_cap=None if args.synth == "mst" else args.epochs)
    spent = getattr(model, "epsilon_list", None)  # DPCTGAN: the accountant's ε after each epoch it began
    if spent:
        result.update(epochs_begun=len(spent), epsilon_last_checked=float(spent[-1]))
    common.emit(args, result)


if __name__ == "__main__":
    main()
