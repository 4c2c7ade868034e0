"""The service benchmark (issue 3): the API as a user meets it, over loopback HTTP, on a real trained model.

    .venv/bin/python -m bench.service --write

One command sets up an isolated state (a dedicated Postgres database, `synthd_bench`, created and dropped
here; or `--db sqlite`), creates an API key with `synthd create-key`, starts `synthd serve` on a free
loopback port, uploads Adult with `train=true` and lets one `synthd worker` train it (the normal path), then
measures from this process:

  1. warm `GET /sample?n=1000` latency (p50, p99) and requests/s with 1 client and with 20 concurrent clients;
  2. rows/s streaming 1M rows as CSV and as Parquet end to end, beside the engine's own in-process
     `sample_batches` speed on the same model, same seed, same chunk and torch threads (and in-process
     sample + encode with the API's own encoder, to show where the time goes);
  3. the API process's RSS while it streams 10M rows of CSV (sampled every 0.2 s from /proc).

Raw figures go to bench/out/service-<stamp>.json; --write puts them into BENCHMARKS.md between
`<!-- bench:service:start -->` and `<!-- bench:service:end -->`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import common, datasets
from bench.engine import _loadavg, _ok, machine

REPO = datasets.REPO
OUT = REPO / "bench" / "out"
BENCHMARKS = REPO / "BENCHMARKS.md"
START, END = "<!-- bench:service:start -->", "<!-- bench:service:end -->"
MIB = 1024**2
BENCH_DB = "synthd_bench"

TARGETS = {
    "fraction_of_engine": 0.80,  # HTTP rows/s over the engine's in-process rows/s
    "memory_growth_bytes": 300 * MIB,  # API RSS growth while streaming --memory-rows
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=("postgres", "sqlite"), default="postgres",
                   help=f"state database: a fresh Postgres database {BENCH_DB!r} (default) or an SQLite file")
    p.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help=f"libpq URL used to create and drop the {BENCH_DB!r} database")
    p.add_argument("--dataset", default="adult", help="table uploaded and trained on")
    p.add_argument("--epochs", type=int, default=20, help="training epochs of the worker job")
    p.add_argument("--seed", type=int, default=0, help="training seed and the seed of every streamed sample")
    p.add_argument("--requests", type=int, default=200, help="timed requests of the single client")
    p.add_argument("--clients", type=int, default=20, help="concurrent clients")
    p.add_argument("--requests-per-client", type=int, default=20, help="timed requests of each concurrent client")
    p.add_argument("--latency-n", type=int, default=1000, help="n of the latency requests")
    p.add_argument("--warmup", type=int, default=20, help="untimed requests before the latency runs")
    p.add_argument("--stream-rows", type=int, default=1_000_000, help="rows per streamed CSV/Parquet response")
    p.add_argument("--memory-rows", type=int, default=10_000_000, help="rows of the memory run; 0 skips it")
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds of the streaming comparison (engine, CSV, Parquet); the median is reported")
    p.add_argument("--chunk-rows", type=int, default=0, help="SYNTHD_SAMPLE_CHUNK_ROWS; 0 = the API's default")
    p.add_argument("--api-threads", type=int, default=0, help="SYNTHD_API_TORCH_THREADS; 0 = the API's default")
    p.add_argument("--reuse", help="state.json of a run made with --keep: skip set-up and training")
    p.add_argument("--keep", action="store_true", help="keep the state (database, data dir) for --reuse")
    p.add_argument("--smoke", action="store_true", help="label the written figures as a smoke run")
    p.add_argument("--write", action="store_true", help="rewrite the service section of BENCHMARKS.md")
    p.add_argument("--from-json", help="render a saved bench/out/service-*.json (with --write, into BENCHMARKS.md), "
                   "running nothing")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(f"[bench.service] {msg}", flush=True)


# ---- the service under test --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(state: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHD_") and k != "DATABASE_URL"}
    env.update({"SYNTHD_DATA_DIR": state["data_dir"], "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)})
    if state.get("database_url"):
        env["DATABASE_URL"] = state["database_url"]
    for name, value in state.get("env", {}).items():
        env[name] = str(value)
    return env


def synthd(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthd", *args], cwd=REPO, env=env, check=True,
                          capture_output=True, text=True, **kw)


def create_database(admin_url: str) -> str:
    """A fresh, empty benchmark database (a leftover from an interrupted run is dropped first); its URL."""
    import psycopg

    drop_database(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=BENCH_DB)
    return url.render_as_string(hide_password=False)


def drop_database(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                     "AND pid <> pg_backend_pid()", (BENCH_DB,))
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')


class API:
    """`synthd serve` in a subprocess on a free loopback port."""

    def __init__(self, env: dict, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synthd", "serve", "--port", str(self.port), "--log-level", "warning"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the API exited ({self.proc.returncode}): {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API did not come up")
            time.sleep(0.3)

    def rss(self) -> int:
        return proc_status(self.proc.pid, "VmRSS")

    def hwm(self) -> int:
        return proc_status(self.proc.pid, "VmHWM")

    def threads(self) -> int:
        return proc_status(self.proc.pid, "Threads", unit=1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_status(pid: int, field: str, unit: int = 1024) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * unit
    except OSError:
        pass
    return 0


def set_up(args: argparse.Namespace, work: Path) -> dict:
    """A fresh state, a key, and a model trained by a real worker job; returns what the measurements need."""
    import httpx

    data_dir = work / "state"
    data_dir.mkdir(parents=True)
    state: dict = {"db": args.db, "data_dir": str(data_dir), "env": {}}
    if args.db == "postgres":
        state["database_url"] = create_database(args.pg_admin_url)
        state["pg_admin_url"] = args.pg_admin_url
    if args.chunk_rows:
        state["env"]["SYNTHD_SAMPLE_CHUNK_ROWS"] = args.chunk_rows
    if args.api_threads:
        state["env"]["SYNTHD_API_TORCH_THREADS"] = args.api_threads
    if args.memory_rows > 10_000_000 or args.stream_rows > 10_000_000:
        state["env"]["SYNTHD_MAX_SAMPLE_ROWS"] = max(args.memory_rows, args.stream_rows)
    env = service_env(state)
    log(f"state: {args.db}" + (f" database {BENCH_DB}" if args.db == "postgres" else "") + f", data dir {data_dir}")
    synthd(env, "migrate")
    state["key"] = synthd(env, "create-key", "--tenant", "bench").stdout.strip().splitlines()[-1]

    api = API(env, work / "api-setup.log")
    try:
        api.wait_ready()
        table = datasets.data_dir() / datasets.resolve(args.dataset).file
        headers = {"Authorization": f"Bearer {state['key']}"}
        with httpx.Client(base_url=api.base, headers=headers, timeout=300) as client, open(table, "rb") as fh:
            resp = client.post("/v1/datasets", params={"train": "true", "epochs": args.epochs, "seed": args.seed},
                               files={"file": (table.name, fh, "text/csv")})
            if resp.status_code != 201:
                raise SystemExit(f"upload failed: {resp.status_code} {resp.text}")
            dataset = resp.json()
            log(f"uploaded {table.name}: {dataset['rows']:,} rows, {dataset['n_columns']} columns; "
                f"job {dataset['job_id']} ({args.epochs} epochs), starting a worker")
            started = time.monotonic()
            with open(work / "worker.log", "wb") as wlog:
                worker = subprocess.Popen([sys.executable, "-m", "synthd", "worker", "--max-jobs", "1"],
                                          cwd=REPO, env=env, stdout=wlog, stderr=subprocess.STDOUT)
                job = _follow(client, dataset["job_id"], worker)
                worker.wait(timeout=60)
            if job["status"] != "succeeded":
                raise SystemExit(f"training job {job['status']}: {job.get('error')} (see {work / 'worker.log'})")
            model = client.get(f"/v1/models/{job['model_id']}").json()
    finally:
        api.stop()
    state.update(model_id=job["model_id"], dataset_rows=dataset["rows"], n_columns=dataset["n_columns"],
                 train_rows=model["train_rows"], epochs_trained=model["epochs_trained"],
                 train_seconds=model["train_seconds"], job_wall_seconds=round(time.monotonic() - started, 1),
                 model_dir=str(Path(data_dir) / "blobs" / "models" / job["model_id"]), dataset=args.dataset,
                 params=model["params"])
    log(f"model {state['model_id']}: {state['epochs_trained']} epochs in {state['train_seconds']:.0f} s")
    return state


def _follow(client, job_id: str, worker: subprocess.Popen) -> dict:  # noqa: ANN001
    last = None
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited ({worker.returncode}) with the job {job['status']}")
        line = f"job {job['status']}: epoch {job['epoch']}/{job['epochs']}"
        if line != last and job["epoch"] and job["epoch"] % 5 == 0:
            log(line)
            last = line
        time.sleep(1)


# ---- 1. latency --------------------------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict:
    s = sorted(samples)

    def pct(q: float) -> float:  # nearest rank
        return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]

    return {"count": len(s), "p50_ms": pct(0.50) * 1e3, "p90_ms": pct(0.90) * 1e3, "p99_ms": pct(0.99) * 1e3,
            "max_ms": s[-1] * 1e3, "mean_ms": statistics.fmean(s) * 1e3, "min_ms": s[0] * 1e3}


def latency_one(base: str, key: str, args: argparse.Namespace, api_pid: int) -> dict:
    import httpx

    params = {"n": args.latency_n}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        for _ in range(args.warmup):
            _check(client.get("/sample", params=params), args.latency_n)
        times = []
        cpu = Cpu(api_pid)
        started = time.perf_counter()
        for _ in range(args.requests):
            t0 = time.perf_counter()
            resp = client.get("/sample", params=params)
            times.append(time.perf_counter() - t0)
            _check(resp, args.latency_n)
        wall = time.perf_counter() - started
    return {**percentiles(times), "clients": 1, "wall_seconds": wall, "requests_per_s": len(times) / wall,
            **cpu.per(len(times), "request")}


def latency_many(base: str, key: str, args: argparse.Namespace, api_pid: int) -> dict:
    import httpx

    params = {"n": args.latency_n}
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)

    async def client_loop(client, times: list[float]) -> None:  # noqa: ANN001
        for _ in range(args.requests_per_client):
            t0 = time.perf_counter()
            resp = await client.get("/sample", params=params)
            times.append(time.perf_counter() - t0)
            _check(resp, args.latency_n)

    async def main() -> dict:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300,
                                     limits=limits) as client:
            # one untimed request per connection, all at once, so that every connection is open and warm
            for resp in await asyncio.gather(*(client.get("/sample", params=params) for _ in range(args.clients))):
                _check(resp, args.latency_n)
            times: list[float] = []
            cpu = Cpu(api_pid)
            started = time.perf_counter()
            await asyncio.gather(*(client_loop(client, times) for _ in range(args.clients)))
            wall = time.perf_counter() - started
        return {**percentiles(times), "clients": args.clients, "wall_seconds": wall,
                "requests_per_s": len(times) / wall, **cpu.per(len(times), "request")}

    return asyncio.run(main())


class Cpu:
    """CPU seconds the API process and this one spent since it was made."""

    def __init__(self, api_pid: int) -> None:
        self.pid, self.api0, self.own0 = api_pid, proc_cpu_seconds(api_pid), time.process_time()

    def per(self, count: int, what: str) -> dict:
        api, own = proc_cpu_seconds(self.pid) - self.api0, time.process_time() - self.own0
        return {"api_cpu_seconds": api, "client_cpu_seconds": own, f"api_cpu_ms_per_{what}": api / count * 1e3,
                f"client_cpu_ms_per_{what}": own / count * 1e3, "loadavg_after": _loadavg()}


def _check(resp, n: int) -> None:  # noqa: ANN001
    if resp.status_code != 200:
        raise SystemExit(f"sample failed: {resp.status_code} {resp.text[:500]}")
    rows = resp.content.count(b"\n") - 1
    if rows != n:
        raise SystemExit(f"asked for {n} rows, got {rows}")


# ---- 2. streaming ------------------------------------------------------------------------------------
def stream_http(base: str, key: str, model_id: str, n: int, fmt: str, seed: int, api_pid: int | None = None,
                on_start=None) -> dict:  # noqa: ANN001
    """GET n rows in `fmt`, consuming the body as it arrives; rows counted (CSV lines, Parquet metadata)."""
    import httpx
    import pyarrow.parquet as pq

    lines = received = 0
    parts: list[bytes] = []
    first_byte = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
        api_cpu0 = proc_cpu_seconds(api_pid) if api_pid else 0.0
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        if on_start:
            on_start()
        with client.stream("GET", f"/v1/models/{model_id}/sample",
                           params={"n": n, "format": fmt, "seed": seed}) as resp:
            if resp.status_code != 200:
                resp.read()
                raise SystemExit(f"stream failed: {resp.status_code} {resp.text[:500]}")
            for data in resp.iter_raw():
                if first_byte is None:
                    first_byte = time.perf_counter() - t0
                received += len(data)
                if fmt == "parquet":
                    parts.append(data)
                else:
                    lines += data.count(b"\n")
        seconds = time.perf_counter() - t0
        client_cpu = time.process_time() - cpu0
        api_cpu = proc_cpu_seconds(api_pid) - api_cpu0 if api_pid else None
    # Parquet: the footer's row count; CSV: lines less the header
    rows = pq.ParquetFile(io.BytesIO(b"".join(parts))).metadata.num_rows if fmt == "parquet" else lines - 1
    if rows != n:
        raise SystemExit(f"{fmt}: asked for {n} rows, got {rows}")
    return {"rows": rows, "bytes": received, "seconds": seconds, "rows_per_s": rows / seconds,
            "first_byte_seconds": first_byte, "mb_per_s": received / seconds / 1e6,
            "api_cpu_seconds": api_cpu, "client_cpu_seconds": client_cpu, "loadavg_after": _loadavg()}


def stream_engine(model, n: int, chunk: int, seed: int, fmt: str | None) -> dict:  # noqa: ANN001
    """The engine in this process: sample_batches(n, chunk) consumed; with fmt, encoded by the API's encoder."""
    from app.api.streaming import encode

    timer = {"sample": 0.0}

    def timed(it):  # noqa: ANN001, ANN202 - time spent inside the engine's iterator
        while True:
            t = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                timer["sample"] += time.perf_counter() - t
                return
            timer["sample"] += time.perf_counter() - t
            yield frame

    rows = size = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    chunks = timed(model.sample_batches(n, chunk_rows=chunk, seed=seed))
    if fmt is None:
        for frame in chunks:
            rows += len(frame)
    else:
        counted = []
        for data in encode(chunks, fmt, on_rows=counted.append):
            size += len(data)
        rows = sum(counted)
    seconds = time.perf_counter() - t0
    out = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "sample_seconds": timer["sample"],
           "cpu_seconds": time.process_time() - cpu0, "loadavg_after": _loadavg()}
    if fmt is not None:
        out.update(bytes=size, encode_seconds=seconds - timer["sample"])
    return out


def streaming(api: API, state: dict, args: argparse.Namespace, chunk: int, threads: int) -> dict:
    """Rounds of: engine, HTTP CSV, HTTP Parquet, engine again (the round's engine figure is both engine passes
    together, so that a drift in the machine's load hits both sides alike), engine + CSV, engine + Parquet."""
    import torch

    from synth import Synthesizer

    torch.set_num_threads(threads)
    model = Synthesizer.load(state["model_dir"], device="cpu")
    list(model.sample_batches(min(args.stream_rows, 20_000), chunk_rows=chunk, seed=args.seed))  # warm-up
    n, pid = args.stream_rows, api.proc.pid

    def http(fmt: str) -> dict:
        return stream_http(api.base, state["key"], state["model_id"], n, fmt, args.seed, api_pid=pid)

    identical = same_output(api, state, model, chunk, args)
    rounds = []
    for r in range(args.repeats):
        log(f"streaming round {r + 1}/{args.repeats}, {n:,} rows each: engine, HTTP CSV, HTTP Parquet, engine, "
            "engine + CSV, engine + Parquet")
        one: dict = {"engine_before": stream_engine(model, n, chunk, args.seed, None)}
        one["http_csv"] = http("csv")
        one["http_parquet"] = http("parquet")
        one["engine_after"] = stream_engine(model, n, chunk, args.seed, None)
        one["engine_csv"] = stream_engine(model, n, chunk, args.seed, "csv")
        one["engine_parquet"] = stream_engine(model, n, chunk, args.seed, "parquet")
        a, b = one["engine_before"], one["engine_after"]
        one["engine"] = {"rows": a["rows"] + b["rows"], "seconds": a["seconds"] + b["seconds"],
                         "rows_per_s": (a["rows"] + b["rows"]) / (a["seconds"] + b["seconds"]),
                         "cpu_seconds": a["cpu_seconds"] + b["cpu_seconds"]}
        for fmt in ("csv", "parquet"):
            one[f"fraction_{fmt}"] = one[f"http_{fmt}"]["rows_per_s"] / one["engine"]["rows_per_s"]
        log("  engine {:,.0f} rows/s ({:,.0f} then {:,.0f}); HTTP CSV {:,.0f} ({:.0%}), Parquet {:,.0f} ({:.0%}); "
            "engine + CSV {:,.0f}, engine + Parquet {:,.0f}".format(
                one["engine"]["rows_per_s"], a["rows_per_s"], b["rows_per_s"], one["http_csv"]["rows_per_s"],
                one["fraction_csv"], one["http_parquet"]["rows_per_s"], one["fraction_parquet"],
                one["engine_csv"]["rows_per_s"], one["engine_parquet"]["rows_per_s"]))
        rounds.append(one)
    # The round with the median CSV fraction, whole, so that its figures stay consistent with each other.
    ordered = sorted(rounds, key=lambda rd: rd["fraction_csv"])
    result = {"rounds": rounds, "reported_round": rounds.index(ordered[(len(ordered) - 1) // 2]),
              **ordered[(len(ordered) - 1) // 2]}
    result["fraction_parquet_median"] = statistics.median(rd["fraction_parquet"] for rd in rounds)
    result["fraction_csv_median"] = statistics.median(rd["fraction_csv"] for rd in rounds)
    result["identical"] = identical
    for fmt in ("csv", "parquet"):
        result[f"same_size_{fmt}"] = all(rd[f"http_{fmt}"]["bytes"] == rd[f"engine_{fmt}"]["bytes"] for rd in rounds)
    return result


def same_output(api: API, state: dict, model, chunk: int, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """Untimed: over a few chunks, is the HTTP body byte for byte what the API's encoder makes of the engine's
    rows in this process (same artifact, seed and chunking)? If not, the two paths are not doing the same work."""
    import httpx

    from app.api.streaming import encode

    n = min(args.stream_rows, 2 * chunk + 777)
    out: dict = {"rows": n}
    with httpx.Client(base_url=api.base, headers={"Authorization": f"Bearer {state['key']}"}, timeout=600) as c:
        for fmt in ("csv", "parquet"):
            body = c.get(f"/v1/models/{state['model_id']}/sample", params={"n": n, "format": fmt, "seed": args.seed})
            local = b"".join(encode(model.sample_batches(n, chunk_rows=chunk, seed=args.seed), fmt))
            out[fmt] = body.status_code == 200 and body.content == local
    log(f"HTTP bodies identical to the in-process encoder's output ({n:,} rows): "
        f"CSV {out['csv']}, Parquet {out['parquet']}")
    return out


# ---- 3. memory ---------------------------------------------------------------------------------------
def memory(api: API, state: dict, args: argparse.Namespace) -> dict:
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    t0 = [time.perf_counter()]

    def poll() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - t0[0], api.rss()))
            stop.wait(0.2)

    before = api.rss()
    poller = threading.Thread(target=poll, daemon=True)

    def started() -> None:
        t0[0] = time.perf_counter()
        poller.start()

    try:
        result = stream_http(api.base, state["key"], state["model_id"], args.memory_rows, "csv", args.seed,
                             api_pid=api.proc.pid, on_start=started)
    finally:
        stop.set()
        poller.join()
    after = api.rss()
    peak = max(rss for _, rss in samples)
    return {**result, "format": "csv", "rss_before_bytes": before, "rss_peak_bytes": peak, "rss_after_bytes": after,
            "growth_bytes": peak - before, "samples": len(samples),
            "trace": [(round(t, 2), rss) for t, rss in samples[:: max(1, len(samples) // 200)]]}


# ---- the whole run -----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    import fastapi
    import httpx
    import uvicorn

    from app.core.threads import API_OPENMP_ENV, apply_api_openmp_env

    # `synthd serve` sets these before torch loads; the engine measured in this process runs under the same
    apply_api_openmp_env()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / f"service-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    record = {
        "command": common.command_line("bench.service", REPO),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "software": {"fastapi": fastapi.__version__, "uvicorn": uvicorn.__version__, "httpx": httpx.__version__,
                     **git_state()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("write", "from_json")},
    }
    state = json.loads(Path(args.reuse).read_text()) if args.reuse else set_up(args, work)
    if args.keep:
        (work / "state.json").write_text(json.dumps(state, indent=1))
        log(f"state kept: --reuse {(work / 'state.json').relative_to(REPO)}")

    from app.core.config import Settings

    env = service_env(state)
    defaults = Settings.model_fields

    def setting(name: str) -> int:
        return int(env.get(f"SYNTHD_{name.upper()}") or defaults[name].default)

    chunk = setting("sample_chunk_rows")
    threads = setting("api_torch_threads") or min(4, os.cpu_count() or 1)  # as app.api.main does
    record["service"] = {k: v for k, v in state.items() if k not in ("key", "pg_admin_url")}
    record["service"].update(chunk_rows=chunk, api_torch_threads=threads, max_sample_rows=setting("max_sample_rows"),
                             openmp={name: os.environ.get(name) for name in API_OPENMP_ENV})

    api = API(env, work / "api.log")
    try:
        api.wait_ready()
        record["service"]["api_rss_ready_bytes"] = api.rss()
        log(f"API up at {api.base} (pid {api.proc.pid}); latency, 1 client, {args.requests} requests")
        record["latency_1"] = latency_one(api.base, state["key"], args, api.proc.pid)
        record["service"]["api_rss_warm_bytes"] = api.rss()
        log(f"  p50 {record['latency_1']['p50_ms']:.1f} ms, p99 {record['latency_1']['p99_ms']:.1f} ms; "
            f"{args.clients} clients x {args.requests_per_client} requests")
        record["latency_many"] = latency_many(api.base, state["key"], args, api.proc.pid)
        log(f"  p50 {record['latency_many']['p50_ms']:.1f} ms, p99 {record['latency_many']['p99_ms']:.1f} ms, "
            f"{record['latency_many']['requests_per_s']:.1f} req/s")
        record["service"]["api_threads_after_latency"] = api.threads()
        common.save_record(record, work)
        record["streaming"] = streaming(api, state, args, chunk, threads)
        common.save_record(record, work)
        if args.memory_rows:
            log(f"memory: streaming {args.memory_rows:,} rows of CSV")
            record["memory"] = memory(api, state, args)
            log(f"  RSS {record['memory']['rss_before_bytes'] / MIB:.0f} MiB before, peak "
                f"{record['memory']['rss_peak_bytes'] / MIB:.0f} MiB, "
                f"{record['memory']['rows_per_s']:,.0f} rows/s")
        record["service"]["api_vmhwm_bytes"] = api.hwm()
    finally:
        api.stop()
        if not args.keep and not args.reuse:
            if state.get("database_url"):
                drop_database(state["pg_admin_url"])
            shutil.rmtree(state["data_dir"], ignore_errors=True)
    record["machine"]["loadavg_end"] = _loadavg()
    path = common.save_record(record, work)
    log(f"raw figures: {path.relative_to(REPO)}")
    return record


def git_state() -> dict:
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "synth", "app").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_engine_or_app": dirty}


# ---- the figures -------------------------------------------------------------------------------------
def _n(x) -> str:  # noqa: ANN001
    return "–" if x is None else f"{x:,.0f}"


def render(record: dict) -> str:
    s, m, sv = record["settings"], record["machine"], record["service"]
    sw = record.get("software", {})
    smoke = s.get("smoke") or s.get("stream_rows", 0) < 1_000_000 or (0 < s.get("memory_rows", 0) < 10_000_000)
    lines = []
    if smoke:
        lines += ["> **SMOKE RUN** — small settings, to check that the benchmark works end to end. These are not",
                  "> the service's figures: do not quote them.", ""]
    mem = m.get("memory_bytes")
    dirty = sw.get("uncommitted_engine_or_app") or []
    lines += [
        f"- **Command:** `{record['command']}`",
        f"- **Date:** {record['date']}",
        f"- **Machine:** {m.get('cpu')}, {m.get('cores')} cores" + (f", {mem / 1024**3:.0f} GiB RAM" if mem else "")
        + f", load average {m.get('loadavg_start')} at start, {m.get('loadavg_end')} at end; {m.get('os')}. "
        "The API, its client (this benchmark) and the in-process engine share these cores.",
        f"- **Software:** commit {sw.get('commit')}"
        + (f" with uncommitted changes in {', '.join(dirty)}" if dirty else "")
        + f"; Python {m.get('python')}, torch {m.get('torch')}, FastAPI {sw.get('fastapi')}, uvicorn "
        f"{sw.get('uvicorn')}, client httpx {sw.get('httpx')}",
        f"- **Service:** `synthd serve` on 127.0.0.1 ({sv['db']}"
        + (f" database `{BENCH_DB}`" if sv["db"] == "postgres" else " file") + "), "
        f"API torch threads {sv['api_torch_threads']}"
        + "".join(f", {k}={v}" for k, v in (sv.get("openmp") or {}).items() if v)
        + f", chunk {sv['chunk_rows']:,} rows (`SYNTHD_SAMPLE_CHUNK_ROWS`); "
        f"model trained by a `synthd worker` job on {sv['dataset']} ({sv['train_rows']:,} training rows, "
        f"{sv['n_columns']} columns, {sv['epochs_trained']} epochs in {sv['train_seconds']:.0f} s, default "
        "network sizes)",
        "",
    ]
    l1, lm = record.get("latency_1"), record.get("latency_many")
    if l1 and lm:
        lines += [f"### Warm `GET /sample?n={s['latency_n']:,}` (CSV), latency to the last byte", "",
                  "| clients | requests | p50 ms | p90 ms | p99 ms | max ms | requests/s "
                  "| CPU ms per request: API · client |",
                  "|---|---|---|---|---|---|---|---|"]
        for lat in (l1, lm):
            cpu_api, cpu_client = lat.get("api_cpu_ms_per_request", 0), lat.get("client_cpu_ms_per_request", 0)
            lines.append(f"| {lat['clients']} | {lat['count']:,} | {lat['p50_ms']:.1f} | {lat['p90_ms']:.1f} | "
                         f"{lat['p99_ms']:.1f} | {lat['max_ms']:.1f} | {lat['requests_per_s']:.1f} | "
                         f"{cpu_api:.1f} · {cpu_client:.1f} |")
        lines += ["", f"After {s['warmup']} untimed requests; the {lm['clients']} clients are one asyncio "
                  f"httpx client with {lm['clients']} keep-alive connections, each doing "
                  f"{s['requests_per_client']} requests back to back.", ""]
    st = record.get("streaming")
    if st:
        e, ec, ep, hc, hp = (st[k] for k in ("engine", "engine_csv", "engine_parquet", "http_csv", "http_parquet"))
        target = TARGETS["fraction_of_engine"]
        rounds = st.get("rounds", [])
        per_m = 1e6 / s["stream_rows"]

        def cpu(x: float | None) -> str:
            return "–" if x is None else f"{x * per_m:.1f}"

        lines += [f"### Streaming {s['stream_rows']:,} rows, end to end, against the engine in process", "",
                  "| format | engine rows/s | engine + encoder rows/s (encode share) | HTTP rows/s "
                  "| HTTP / engine | HTTP / engine + encoder | CPU s per 1M rows: engine · + encoder · API "
                  "(client) | CPU: engine / API | body MB | first byte s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for fmt, enc, http in (("CSV", ec, hc), ("Parquet", ep, hp)):
            frac = http["rows_per_s"] / e["rows_per_s"]
            lines.append(
                f"| {fmt} | {_n(e['rows_per_s'])} | {_n(enc['rows_per_s'])} "
                f"({enc['encode_seconds'] / enc['seconds']:.0%}) | {_n(http['rows_per_s'])} | "
                f"{_ok(f'{frac:.0%}', frac >= target)} | {http['rows_per_s'] / enc['rows_per_s']:.0%} | "
                f"{cpu(e['cpu_seconds'] / 2)} · {cpu(enc['cpu_seconds'])} · {cpu(http.get('api_cpu_seconds'))} "
                f"({cpu(http.get('client_cpu_seconds'))}) | "
                f"{e['cpu_seconds'] / 2 / http['api_cpu_seconds']:.0%} | {http['bytes'] / 1e6:.0f} | "
                f"{http['first_byte_seconds']:.2f} |")
        ident = st.get("identical") or {}
        same = ident.get("csv") and ident.get("parquet")
        lines += ["", f"Same model, seed {s['seed']}, chunk and torch threads on both paths. Engine: "
                  "`Synthesizer.load` of the same artifact in this process, `sample_batches(n, chunk_rows=chunk)` "
                  "consumed, once before and once after the two HTTP streams (their total is the engine's figure, "
                  "so that a drift in the machine's load hits both sides alike); engine + encoder adds "
                  "`app.api.streaming.encode`, the code the API streams with"
                  + (f" (checked: over {ident['rows']:,} rows, the HTTP bodies are its output byte for byte)"
                     if same else " (**the HTTP bodies differed from its output**: "
                     f"CSV {ident.get('csv')}, Parquet {ident.get('parquet')})")
                  + ". HTTP: `GET /v1/models/{id}/sample?n=…&format=…&seed=…` read to the end by httpx in this "
                  "process (CSV rows counted by lines, Parquet by its footer). CPU: user + system seconds of the "
                  "process doing the work (for HTTP, the API process from /proc; the client's in brackets), "
                  "less sensitive than wall time to what else runs on the machine; engine / API near 100% means "
                  "that serving over HTTP costs the API little beyond the engine's own work."]
        if len(rounds) > 1:
            lines[-1] += (f" {len(rounds)} rounds; shown: the round with the median CSV fraction (round "
                          f"{st['reported_round'] + 1}). HTTP / engine in each round: CSV "
                          + ", ".join(f"{rd['fraction_csv']:.0%}" for rd in rounds) + "; Parquet "
                          + ", ".join(f"{rd['fraction_parquet']:.0%}" for rd in rounds) + ".")
        if max(hc["rows_per_s"], hp["rows_per_s"]) > e["rows_per_s"]:
            lines += ["", "HTTP above 100% is the machine's noise (the API runs the same engine, and more): "
                      "read it as no measurable loss."]
        lines += ["", f"Target: HTTP ≥ {target:.0%} of the engine's own rows/s.", ""]
    mm = record.get("memory")
    if mm:
        grow = mm["growth_bytes"]
        lines += [f"### API memory while streaming {s['memory_rows']:,} rows of CSV", "",
                  "| RSS before | peak RSS | growth | RSS after | rows/s | body GB |", "|---|---|---|---|---|---|",
                  f"| {mm['rss_before_bytes'] / MIB:.0f} MiB | {mm['rss_peak_bytes'] / MIB:.0f} MiB | "
                  f"{_ok(f'{grow / MIB:.0f} MiB', grow < TARGETS['memory_growth_bytes'])} | "
                  f"{mm['rss_after_bytes'] / MIB:.0f} MiB | {_n(mm['rows_per_s'])} | {mm['bytes'] / 1e9:.2f} |",
                  "", f"VmRSS of the API process read from /proc every 0.2 s ({mm['samples']} samples); before = "
                  f"after the runs above (the API used {sv.get('api_rss_ready_bytes', 0) / MIB:.0f} MiB when ready, "
                  f"{sv.get('api_rss_warm_bytes', 0) / MIB:.0f} MiB with the model loaded). "
                  f"Target: growth under {TARGETS['memory_growth_bytes'] / MIB:.0f} MB.", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_benchmarks(record: dict) -> None:
    common.write_section(BENCHMARKS, START, END, render(record), heading="## Service\n\n")
    log(f"wrote the service figures into {BENCHMARKS.relative_to(REPO)}")


def main(argv=None) -> None:
    args = parse_args(argv)
    record = json.loads(Path(args.from_json).read_text()) if args.from_json else run(args)
    print(render(record))
    if args.write:
        write_benchmarks(record)


if __name__ == "__main__":
    main()
