"""Helpers shared by the runner and both benchmark children (standard library only)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import resource
import shlex
import sys
import time
from pathlib import Path

GIB = 1024**3

# The hyperparameters both sides train with (CTGAN's defaults, which the engine also takes).
HYPER = {
    "batch_size": 500,
    "pac": 10,
    "embedding_dim": 128,
    "generator_dim": (256, 256),
    "discriminator_dim": (256, 256),
    "generator_lr": 2e-4,
    "discriminator_lr": 2e-4,
    "generator_decay": 1e-6,
    "discriminator_decay": 1e-6,
    "discriminator_steps": 1,
    "discriminator_dropout": 0.5,  # ctgan's, fixed in its critic; ours defaults to none
}


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class PhaseTimer:
    """Wall seconds spent inside chosen methods of a class, counted once however they nest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._depth = 0

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def timed(self, name: str, fn):
        """`fn`, its wall seconds added to `name` (once, when timed calls nest)."""

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            self._depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return wrapped

    def timed_subclass(self, cls: type, methods: tuple[str, ...] = ("fit", "transform")) -> type:
        attrs = {m: self.timed(m, getattr(cls, m)) for m in methods if hasattr(cls, m)}
        return type(cls.__name__, (cls,), attrs)


def child_args(description: str) -> argparse.Namespace:
    """The command line both children take from the runner."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--mode", choices=("main", "memory", "budget", "speed"), default="main")
    p.add_argument("--dataset", required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--sample-rows", type=int, default=100_000)
    p.add_argument("--max-rows", type=int, default=0, help="seeded subset of the table (smoke runs)")
    p.add_argument("--memory-rows", type=int, default=1_000_000)
    p.add_argument("--budget-seconds", type=float, default=600.0)
    p.add_argument("--budget-epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-precision", default="auto", help="ours only: the sampling network's precision")
    p.add_argument("--ours-settings", default="{}", help="ours only: engine settings as JSON over the shared ones")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = one per core")
    p.add_argument("--work-dir", required=True, help="where to write synthetic rows and result.json")
    return p.parse_args()


def emit(args: argparse.Namespace, result: dict) -> None:
    """Write the child's figures to work-dir/result.json and print them as the last stdout line."""
    result.setdefault("peak_rss_bytes", peak_rss_bytes())
    text = json.dumps(result, default=_jsonable)
    Path(args.work_dir, "result.json").write_text(text)
    print("@@BENCH@@ " + text, flush=True)


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def runtime_info() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "executable": sys.executable,
    }


def set_threads(threads: int) -> None:
    """The same torch thread count on both sides, and torch's one-time lazy imports done before any timing
    (the first optimiser construction imports torch._dynamo, about two seconds, on both sides alike)."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def rate(rows: int, seconds: float) -> float | None:
    return rows / seconds if seconds > 0 else None


SAMPLE_REPEATS = 5  # timed sampling runs per side; the fastest counts (neighbours only ever slow a run down)
SPEED_ROUNDS = 3  # training-speed runs per side, the sides alternating, so a drift in load hits both alike
SPEED_EPOCHS = 4  # epochs per training-speed run; the first (warm-up) is not counted


def epoch_speed(rows: int, ends: list[float]) -> dict:
    """Training speed from the times each epoch ended (seconds from the start of the epoch loop): the
    epochs after the first, each as `rows` rows; rows_per_s from the fastest."""
    seconds = [b - a for a, b in zip(ends, ends[1:], strict=False)]
    return {"rows": rows, "epoch_seconds": seconds, "rows_per_s": rate(rows, min(seconds)) if seconds else None}


def best_sampling(sample, rows: int) -> dict:
    """Time `sample(rows)` SAMPLE_REPEATS times: the fastest run's figures, every run's seconds."""
    runs = []
    for _ in range(SAMPLE_REPEATS):
        start = time.perf_counter()
        sampled = sample(rows)
        runs.append(time.perf_counter() - start)
        got = len(sampled)
        del sampled
    return {"rows": got, "seconds": min(runs), "rows_per_s": rate(got, min(runs)), "runs_seconds": runs}


def save_record(record: dict, run_dir: Path) -> Path:
    """Write a runner's raw figures beside its run folder, as <run_dir>.json."""
    path = run_dir.with_suffix(".json")
    path.write_text(json.dumps(record, indent=1, default=str))
    return path


def command_line(module: str, repo: Path) -> str:
    """The command that reproduces this run, with the interpreter relative to the repository."""
    exe = Path(sys.executable)
    if exe.is_relative_to(repo):
        exe = exe.relative_to(repo)
    return shlex.join([str(exe), "-m", module, *sys.argv[1:]])


def write_section(path: Path, start: str, end: str, body: str, heading: str = "") -> None:
    """Put `body` between the markers `start` and `end` in the Markdown file `path`, replacing what was there;
    where the markers are missing, append them (after `heading`, if given)."""
    block = f"{start}\n{body}{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, count=1, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + heading + block + "\n"
    path.write_text(text)
