"""Sharing the cores: a worker's training and the API's sampling, alone and beside one busy process, under each
OpenMP wait setting. The settings synthd ships must keep at least half of the solo speed beside a neighbour and
lose at most a tenth of the best solo speed when alone.

    .venv/bin/python -m bench.cores --write                 # Adult, and Adult resampled to 228k rows
    .venv/bin/python -m bench.cores --settings shipped,active,passive --rounds 1

Every measurement runs in a fresh process (OpenMP reads its wait policy once, when torch loads), with the
environment `synthd worker` / `synthd serve` would give it: the thread count and wait settings of the setting under
test. The neighbour is one single-threaded busy loop (`while True: pass`), started before and stopped after each
measurement. Training: seconds per epoch of the engine's defaults (the first epoch not counted), the median of the
rest. Sampling: rows/s of `sample(100_000)` on a 30-epoch Adult model, the API's thread count, the median of five.
Raw figures go to bench/out/cores-<stamp>.json; --write puts the table into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common, datasets
from bench.engine import machine

REPO = datasets.REPO
OUT = REPO / "bench" / "out"
BENCHMARKS = REPO / "BENCHMARKS.md"
START, END = "<!-- bench:cores:start -->", "<!-- bench:cores:end -->"
BUSY = "while True: pass"


def _settings() -> dict[str, dict]:
    """What synthd ships, and the plain choices it was picked against. Each: the training process's environment
    and threads, and the sampling (API) process's environment and threads."""
    from app.core.threads import API_OPENMP_ENV, torch_threads

    cores = os.cpu_count() or 1
    api = torch_threads("api", 0)
    return {
        "shipped": {"train_env": {}, "train_threads": torch_threads("worker", 0),
                    "sample_env": dict(API_OPENMP_ENV), "sample_threads": api},
        "all_cores": {"train_env": {}, "train_threads": cores, "sample_env": {}, "sample_threads": api},
        "passive": {"train_env": {"OMP_WAIT_POLICY": "PASSIVE"}, "train_threads": cores,
                    "sample_env": {"OMP_WAIT_POLICY": "PASSIVE"}, "sample_threads": api},
        "one_thread": {"train_env": {}, "train_threads": 1, "sample_env": {}, "sample_threads": 1},
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cores", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", default="shipped,all_cores,passive,one_thread")
    p.add_argument("--tables", default="adult,adult_228k", help="adult, and/or adult_228k (Adult resampled)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs per measurement (the first not counted)")
    p.add_argument("--rounds", type=int, default=1, help="repeat every measurement, alternating the settings")
    p.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    p.add_argument("--child", choices=("train", "sample", "model"), help=argparse.SUPPRESS)
    p.add_argument("--table", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--threads", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _table(name: str):  # noqa: ANN202
    frame = datasets.load("adult")
    return datasets.resample(frame, 228_000) if name == "adult_228k" else frame


# --- children: one measurement each, in a fresh interpreter ---------------------------------------------------


def _threads(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _child_train(args: argparse.Namespace) -> dict:
    from synth import Synthesizer

    ends: list[float] = []
    start = time.monotonic()
    Synthesizer(epochs=args.epochs, seed=0).fit(_table(args.table), threads=_threads(args.threads),
                                               on_epoch=lambda info: ends.append(time.monotonic() - start))
    seconds = [b - a for a, b in zip(ends, ends[1:], strict=False)]
    return {"epoch_seconds": seconds, "median": statistics.median(seconds)}


def _child_model(args: argparse.Namespace) -> dict:
    from synth import Synthesizer

    Synthesizer(epochs=30, seed=0).fit(_table("adult")).save(args.model)
    return {}


def _child_sample(args: argparse.Namespace) -> dict:
    import torch

    from synth import Synthesizer

    torch.set_num_threads(int(args.threads))
    model = Synthesizer.load(args.model, device="cpu")
    model.sample(10_000, seed=0)  # warm: the sampling network is built on the first call
    rates = []
    for i in range(5):
        start = time.perf_counter()
        rows = len(model.sample(100_000, seed=i))
        rates.append(rows / (time.perf_counter() - start))
    return {"rows_per_s": rates, "median": statistics.median(rates)}


# --- the runner ----------------------------------------------------------------------------------------------


def _measure(child: str, env: dict[str, str], beside: bool, **extra: str) -> dict:
    """One child process under `env` (on top of a clean environment), with a busy neighbour when `beside`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "KMP_", "SYNTHD_"))}
    base["SYNTHD_DATASETS"] = str(datasets.data_dir())
    command = [sys.executable, "-m", "bench.cores", "--child", child]
    for key, value in extra.items():
        command += [f"--{key}", value]
    busy = subprocess.Popen([sys.executable, "-c", BUSY]) if beside else None
    try:
        time.sleep(0.5 if beside else 0)
        done = subprocess.run(command, cwd=REPO, env={**base, **env}, capture_output=True, text=True, check=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    settings = _settings()
    chosen = args.settings.split(",")
    unknown = set(chosen) - set(settings)
    if unknown:
        raise SystemExit(f"unknown settings {sorted(unknown)}; known: {sorted(settings)}")
    tables = [t for t in args.tables.split(",") if t]
    record: dict = {"when": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                    "settings": {name: settings[name] for name in chosen}, "epochs": args.epochs, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        model = str(Path(tmp) / "model")
        _measure("model", {}, False, model=model)
        for round_ in range(args.rounds):
            for name in chosen:
                for beside in (False, True):
                    for table in tables:
                        got = _measure("train", settings[name]["train_env"], beside, table=table,
                                       epochs=str(args.epochs), threads=str(settings[name]["train_threads"]))
                        record["runs"].append({"round": round_, "setting": name, "beside": beside,
                                               "what": f"train {table}", **got})
                        print(f"{name:13} {'beside' if beside else 'alone ':6} train {table:11} "
                              f"{got['median']:.2f} s/epoch", flush=True)
                    got = _measure("sample", settings[name]["sample_env"], beside, model=model,
                                   threads=str(settings[name]["sample_threads"]))
                    record["runs"].append({"round": round_, "setting": name, "beside": beside, "what": "sample",
                                           **got})
                    print(f"{name:13} {'beside' if beside else 'alone ':6} sample            "
                          f"{got['median']:,.0f} rows/s", flush=True)
    return record


def summarise(record: dict) -> str:
    runs = record["runs"]
    whats = list(dict.fromkeys(r["what"] for r in runs))
    names = list(record["settings"])

    def value(name: str, what: str, beside: bool) -> float:
        vals = [r["median"] for r in runs if r["setting"] == name and r["what"] == what and r["beside"] == beside]
        return statistics.median(vals)

    def speed(name: str, what: str, beside: bool) -> float:  # higher is faster for both kinds
        v = value(name, what, beside)
        return v if what == "sample" else 1 / v

    lines = ["| setting | training: threads, environment; sampling: threads, environment | " + " | ".join(
        f"{w}: alone, beside (of its solo), alone (of best solo)" for w in whats) + " |",
        "|---|---|" + "---|" * len(whats)]
    for name in names:
        setting = record["settings"][name]
        env = "; ".join(f"{setting[f'{part}_threads']}, " + (" ".join(f"{k}={v}" for k, v in
                                                                       setting[f"{part}_env"].items()) or "-")
                        for part in ("train", "sample"))
        cells = []
        for what in whats:
            best = max(speed(n, what, False) for n in names)
            alone, beside = speed(name, what, False), speed(name, what, True)
            unit = f"{value(name, what, False):,.0f} rows/s" if what == "sample" else \
                f"{value(name, what, False):.2f} s/epoch"
            cells.append(f"{unit}, **{beside / alone:.0%}**, {alone / best:.0%}")
        lines.append(f"| {name} | {env} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        handlers = {"train": _child_train, "sample": _child_sample, "model": _child_model}
        print(json.dumps(handlers[args.child](args)))
        return 0
    record = run(args)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"cores-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(record, indent=1))
    table = summarise(record)
    print(table)
    if args.write:
        body = (f"Command: `{common.command_line('bench.cores', REPO)}`, {record['when']}, "
                f"{record['machine'].get('cpu', '')}. Raw: `{path.relative_to(REPO)}`.\n\n{table}")
        common.write_section(BENCHMARKS, START, END, body, heading="## Sharing the cores\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
