"""Our side of the benchmark: the synth engine, run under the project's .venv.

Invoked by bench/engine.py as `.venv/bin/python -m bench.ours --mode main --dataset adult --epochs 5
--work-dir DIR`, in its own process so that its memory figures are its own; prints its figures as one JSON
line and writes DIR/result.json and DIR/synthetic.csv. Modes:
  main    preprocessing on the whole table, training on the 70% split, sampling and bare generator rates,
          synthetic rows (as many as the split's training rows) for the quality score;
  memory  one epoch on the table resampled with replacement to --memory-rows rows: peak RSS;
  budget  training on the 70% split under max_seconds=--budget-seconds, then synthetic rows;
  speed   common.SPEED_EPOCHS epochs on the 70% split: each epoch's seconds (the runner alternates sides).
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings

from bench import common, datasets


def main() -> None:
    args = common.child_args(__doc__)
    warnings.filterwarnings("ignore")
    common.set_threads(args.threads)
    import torch

    import synth.synthesizer as engine
    from synth import Synthesizer, infer_schema
    from synth.transformer import DataTransformer

    result = {"side": "ours", "mode": args.mode, "dataset": args.dataset, **common.runtime_info()}

    if args.mode == "memory":
        base = datasets.load(args.dataset)
        df = datasets.resample(base, args.memory_rows, seed=args.seed)
        del base
        result.update(rows=len(df), epochs=1, rss_before_fit_bytes=common.current_rss_bytes(),
                      peak_rss_before_fit_bytes=common.peak_rss_bytes())
        model, applied = make_model(Synthesizer, epochs=1, seed=args.seed, settings=args.ours_settings)
        start = time.perf_counter()
        model.fit(df)
        result.update(fit_seconds=time.perf_counter() - start, hyper=applied)
        common.emit(args, result)
        return

    whole = datasets.load(args.dataset, max_rows=args.max_rows, seed=args.seed)
    train, holdout = datasets.split(whole, seed=args.seed)

    if args.mode == "speed":
        model, applied = make_model(Synthesizer, epochs=common.SPEED_EPOCHS, seed=args.seed,
                                    settings=args.ours_settings)
        ends = []
        model.fit(train, on_epoch=lambda info: ends.append(info.elapsed))
        result["speed"] = {**common.epoch_speed(len(train), ends), "hyper": applied}
        common.emit(args, result)
        return

    if args.mode == "budget":  # the engine's own defaults, as a user gets them, within the time budget
        # A job names the target it will be scored on, as a user who wants ML utility does (synth.auxiliary).
        settings = {"target": datasets.resolve(args.dataset).target, **json.loads(args.ours_settings)}
        model = Synthesizer(seed=args.seed, **settings)
        start = time.perf_counter()
        model.fit(train, max_seconds=args.budget_seconds)
        fit_s = time.perf_counter() - start
        result["budget"] = {"rows": len(train), "max_seconds": args.budget_seconds, "fit_seconds": fit_s,
                            "epochs_requested": model.planned_epochs(len(train)), "epochs_done": model.epochs_done,
                            "hyper": model.config_dict()}
        model.sample(min(5_000, args.sample_rows), seed=args.seed + 1)  # warm-up
        result["sample"] = common.best_sampling(lambda n: model.sample(n, seed=args.seed + 2), args.sample_rows)
        write_synthetic(model, len(train), args)
        result["synthetic_rows"] = len(train)
        common.emit(args, result)
        return

    # 1. preprocessing: schema inference + fit of the data transformer + transform of the whole table
    warm = whole.head(1_000)  # untimed warm-up, as for the peer
    with contextlib.suppress(Exception):
        DataTransformer(infer_schema(warm), max_modes=10, seed=args.seed).fit(warm).transform(warm)
    start = time.perf_counter()
    schema = infer_schema(whole)
    schema_s = time.perf_counter() - start
    transformer = DataTransformer(schema, max_modes=10, seed=args.seed).fit(whole)
    fit_s = time.perf_counter() - start - schema_s
    scalars, codes = transformer.transform(whole)
    pre_s = time.perf_counter() - start
    result["preprocess"] = {"rows": len(whole), "rows_in_table": len(whole), "seconds": pre_s,
                            "schema_seconds": schema_s, "fit_seconds": fit_s,
                            "transform_seconds": pre_s - schema_s - fit_s,
                            "width": int(transformer.output_dim),
                            "stored": f"float32 {scalars.shape} + int32 codes {codes.shape}",
                            "kinds": schema.kinds()}
    del scalars, codes, transformer

    # 2. training on the 70% split, timed apart from the preprocessing that fit() does inside
    timer = common.PhaseTimer()
    engine.DataTransformer = timer.timed_subclass(DataTransformer)
    engine.infer_schema = timer.timed("infer_schema", engine.infer_schema)
    model, applied = make_model(Synthesizer, epochs=args.epochs, seed=args.seed,
                                sample_precision=args.sample_precision, settings=args.ours_settings)
    loop = []  # the engine's own seconds of training loop at each epoch's end (EpochInfo.elapsed)
    start = time.perf_counter()
    model.fit(train, on_epoch=lambda info: loop.append(info.elapsed) and None)
    fit_total = time.perf_counter() - start
    train_s = fit_total - timer.total
    result["train"] = {"rows": len(train), "rows_in_split": len(train), "epochs": args.epochs,
                       "fit_seconds": fit_total, "preprocess_seconds_in_fit": timer.total,
                       "seconds": train_s, "rows_per_s": common.rate(len(train) * args.epochs, train_s),
                       "loop_seconds": loop[-1] if loop else None,
                       "loop_rows_per_s": common.rate(len(train) * len(loop), loop[-1]) if loop else None,
                       "hyper": applied}

    # 3. sampling throughput after a warm-up, and the bare generator forward pass for the same rows
    model.sample(min(5_000, args.sample_rows), seed=args.seed + 1)
    result["sample"] = sampling_and_bare_forward(model, args.sample_rows, torch, seed=args.seed + 2)
    result["sample"]["bfloat16"] = model.sample_bf16

    # 4. synthetic rows for the quality score
    write_synthetic(model, len(train), args)
    result["synthetic_rows"] = len(train)
    common.emit(args, result)


def make_model(cls, epochs: int, seed: int, sample_precision: str = "auto", settings: str = "{}"):
    """The engine with the shared hyperparameters and `settings` (JSON) over them, and those for the record."""
    hyper = {**common.HYPER, "epochs": epochs, "seed": seed, "device": "cpu", **json.loads(settings)}
    return cls(**hyper, sample_precision=sample_precision), hyper


def sampling_and_bare_forward(model, rows: int, torch, seed: int) -> dict:
    """Rows/s of `sample(rows)`, and of the generator network alone for as many rows: `Synthesizer.generate`
    (eval, no gradients, its precision, the conditional one-hot given as each row's column) on an input made
    once, in the batch size that sampling uses (synth.synthesizer.GEN_BATCH), run two ways: one stream on all
    of torch's threads, and SAMPLE_WORKERS streams sharing them as sampling runs (synth.parallel). The three
    alternate, common.SAMPLE_REPEATS rounds, so that a change in the machine's load lands on all of them; the
    fastest run of each counts, and the faster bare way is the ceiling for sampling, which adds noise,
    conditional vectors, the category draws and decoding."""
    import synth.synthesizer as engine
    from synth.parallel import run_in_order

    gen = model._generator
    device = next(gen.parameters()).device
    batch, workers = engine.GEN_BATCH, engine.SAMPLE_WORKERS
    noise = torch.randn(batch, model.config.embedding_dim, device=device)
    cond = torch.randint(gen.cond_dim, (batch,), device=device) if gen.cond_dim else None
    steps = -(-rows // batch)

    def one_stream(n):
        for _ in range(n):
            model.generate(noise, cond)

    def shared(n):
        for _ in run_in_order((lambda: model.generate(noise, cond) for _ in range(n)), workers):
            pass

    def sample(_):
        return len(model.sample(rows, seed=seed))

    runs = {"one_stream": one_stream, "workers": shared, "sample": sample}
    for run in (one_stream, shared):
        run(3)  # warm-up
    seconds = {name: [] for name in runs}
    got = rows
    for _ in range(common.SAMPLE_REPEATS):
        for name, run in runs.items():
            start = time.perf_counter()
            got = run(steps) or got
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[name].append(time.perf_counter() - start)
    bare = {"rows": steps * batch, "batch": batch, "workers": workers}
    for name in ("one_stream", "workers"):
        bare[f"{name}_rows_per_s"] = steps * batch / min(seconds[name])
    bare["rows_per_s"] = max(bare["one_stream_rows_per_s"], bare["workers_rows_per_s"])
    rounds = [got / s / (steps * batch / min(a, b))
              for s, a, b in zip(seconds["sample"], seconds["one_stream"], seconds["workers"], strict=True)]
    fastest = min(seconds["sample"])
    return {"rows": got, "seconds": fastest, "rows_per_s": common.rate(got, fastest),
            "runs_seconds": seconds["sample"], "bare_forward": bare,
            "fraction_of_bare": common.rate(got, fastest) / bare["rows_per_s"], "fraction_by_round": rounds}


def write_synthetic(model, n: int, args) -> None:
    model.sample(n, seed=args.seed).to_csv(f"{args.work_dir}/synthetic.csv", index=False)


if __name__ == "__main__":
    main()
