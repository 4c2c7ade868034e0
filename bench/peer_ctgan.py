"""The peer's side of the benchmark: ctgan 0.12.1, run under .venv-bench only.

ctgan is under the Business Source License: it is installed in its own venv (bench/setup_peer.sh) solely to
be measured against, and nothing outside this file imports it. Invoked by bench/engine.py as
`.venv-bench/bin/python -m bench.peer_ctgan --dataset adult --epochs 5 --work-dir DIR`; prints its figures
as one JSON line and writes DIR/result.json and DIR/synthetic.csv.

How ctgan is fed: its discrete columns are the table's non-numeric columns, and since it refuses nulls in
numeric columns, rows with a null in a numeric column are dropped first (the count is recorded).
"""

from __future__ import annotations

import contextlib
import time
import warnings

from bench import common, datasets


def main() -> None:
    args = common.child_args(__doc__)
    warnings.filterwarnings("ignore")
    common.set_threads(args.threads)

    import ctgan
    import ctgan.synthesizers.ctgan as ctgan_module
    import torch
    from ctgan.data_transformer import DataTransformer

    torch.manual_seed(args.seed)
    result = {"side": "ctgan", "version": ctgan.__version__, "mode": args.mode, "dataset": args.dataset,
              **common.runtime_info()}

    if args.mode == "memory":
        base = datasets.load(args.dataset)
        df = datasets.resample(usable(base), args.memory_rows, seed=args.seed)
        discrete = datasets.non_numeric_columns(df)
        result.update(rows=len(df), epochs=1, rss_before_fit_bytes=common.current_rss_bytes())
        model = make_model(ctgan_module, epochs=1, seed=args.seed)
        start = time.perf_counter()
        model.fit(df, discrete)
        result["fit_seconds"] = time.perf_counter() - start
        common.emit(args, result)
        return
    if args.mode not in ("main", "speed", "budget"):
        raise SystemExit(f"the peer has no {args.mode!r} mode")

    whole = datasets.load(args.dataset, max_rows=args.max_rows, seed=args.seed)
    discrete = datasets.non_numeric_columns(whole)

    if args.mode == "budget":  # its defaults (300 epochs), stopped at the end of the epoch that passes the budget
        train_usable = usable(datasets.split(whole, seed=args.seed)[0])
        clock: list[float] = []
        ctgan_module.tqdm = lambda iterable, **_: _EpochClock(iterable, clock, args.budget_seconds)
        model = ctgan_module.CTGAN(epochs=300, verbose=False, enable_gpu=False)
        model.set_random_state(args.seed)
        start = time.perf_counter()
        model.fit(train_usable, discrete)
        result["budget"] = {"rows": len(train_usable), "max_seconds": args.budget_seconds,
                            "fit_seconds": time.perf_counter() - start, "epochs_requested": 300,
                            "epochs_done": len(clock) - 1}
        sample_and_emit(model, len(train_usable), args, result)
        return

    if args.mode == "speed":  # each epoch's seconds, timed at ctgan's epoch loop
        train_usable = usable(datasets.split(whole, seed=args.seed)[0])
        clock: list[float] = []
        ctgan_module.tqdm = lambda iterable, **_: _EpochClock(iterable, clock)
        make_model(ctgan_module, epochs=common.SPEED_EPOCHS, seed=args.seed).fit(train_usable, discrete)
        result["speed"] = common.epoch_speed(len(train_usable), [t - clock[0] for t in clock[1:]])
        common.emit(args, result)
        return

    # 1. preprocessing: fit of the data transformer + transform of the whole (usable) table
    whole_usable = usable(whole)
    warm = whole_usable.head(1_000)  # untimed warm-up: lazy imports and the transform's worker pool
    with contextlib.suppress(Exception):
        warm_up = DataTransformer()
        warm_up.fit(warm, discrete)
        warm_up.transform(warm)
    start = time.perf_counter()
    transformer = DataTransformer()
    transformer.fit(whole_usable, discrete)
    fit_s = time.perf_counter() - start
    matrix = transformer.transform(whole_usable)
    pre_s = time.perf_counter() - start
    result["preprocess"] = {"rows": len(whole_usable), "rows_in_table": len(whole), "seconds": pre_s,
                            "fit_seconds": fit_s, "transform_seconds": pre_s - fit_s,
                            "width": int(matrix.shape[1]), "dtype": str(matrix.dtype)}
    del matrix, transformer

    # 2. training on the 70% split, timed apart from the preprocessing that fit() does inside
    train, holdout = datasets.split(whole, seed=args.seed)
    train_usable = usable(train)
    timer = common.PhaseTimer()
    ctgan_module.DataTransformer = timer.timed_subclass(DataTransformer)
    model = make_model(ctgan_module, epochs=args.epochs, seed=args.seed)
    start = time.perf_counter()
    model.fit(train_usable, discrete)
    fit_total = time.perf_counter() - start
    train_s = fit_total - timer.total
    result["train"] = {"rows": len(train_usable), "rows_in_split": len(train), "epochs": args.epochs,
                       "fit_seconds": fit_total, "preprocess_seconds_in_fit": timer.total,
                       "seconds": train_s,
                       "rows_per_s": common.rate(len(train_usable) * args.epochs, train_s),
                       "discrete_columns": discrete,
                       "dropped_rows_numeric_nulls": len(train) - len(train_usable)}

    # 3. sampling throughput, and synthetic rows for the quality score
    sample_and_emit(model, len(train), args, result)


def sample_and_emit(model, rows: int, args, result: dict) -> None:  # noqa: ANN001
    """Sampling throughput after a warm-up; `rows` synthetic rows written for the runner to score with our report
    code; the figures printed and saved."""
    model.sample(min(5_000, args.sample_rows))
    result["sample"] = common.best_sampling(model.sample, args.sample_rows)
    synthetic = model.sample(rows)
    synthetic.to_csv(f"{args.work_dir}/synthetic.csv", index=False)
    result["synthetic_rows"] = len(synthetic)
    common.emit(args, result)


def usable(df):
    """ctgan refuses nulls in numeric columns: drop the rows that have one."""
    numeric = datasets.numeric_columns(df)
    return df.dropna(subset=numeric).reset_index(drop=True) if numeric else df


def make_model(ctgan_module, epochs: int, seed: int):
    h = common.HYPER
    model = ctgan_module.CTGAN(
        embedding_dim=h["embedding_dim"], generator_dim=h["generator_dim"],
        discriminator_dim=h["discriminator_dim"], generator_lr=h["generator_lr"],
        generator_decay=h["generator_decay"], discriminator_lr=h["discriminator_lr"],
        discriminator_decay=h["discriminator_decay"], batch_size=h["batch_size"],
        discriminator_steps=h["discriminator_steps"], pac=h["pac"], epochs=epochs,
        verbose=False, enable_gpu=False,
    )
    model.set_random_state(seed)
    return model


class _EpochClock:
    """Stands in for the tqdm that wraps ctgan's epoch loop: notes when the loop starts and when each
    epoch ends (the same points as our EpochInfo.elapsed); with `budget` seconds, ends the loop after the
    epoch that passes them, as our max_seconds does."""

    def __init__(self, iterable, times: list[float], budget: float | None = None):
        self.iterable, self.times, self.budget = iterable, times, budget

    def __iter__(self):
        self.times.append(time.perf_counter())
        for item in self.iterable:
            yield item
            self.times.append(time.perf_counter())
            if self.budget is not None and self.times[-1] - self.times[0] >= self.budget:
                return

    def set_description(self, *_args) -> None:
        pass


if __name__ == "__main__":
    main()
