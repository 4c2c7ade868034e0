"""A bounded load test of synthd over loopback, from a process of its own.

    .venv/bin/python -m tests.load.load --clients 50 --seconds 60            # the recorded run (RELIABILITY.md)
    .venv/bin/python -m tests.load.load --base http://127.0.0.1:8000 --key sk_...   # against a running service

Without --base it starts a whole synthd of its own: a Postgres database `<TEST_DATABASE_URL database>_load`
(dropped at the end), `uvicorn app.api.main:create_app` as its own process and one `synthd worker`. It trains a
small model to sample from, then queues a long training job so that the worker trains during the whole test.

The load, all at once, for --seconds:
  * --clients sampling clients, each in a loop: GET /sample?n=<--rows> (csv, jsonl or parquet in turn);
  * --uploaders uploading clients, each in a loop: POST /v1/datasets (a 200-row CSV), then GET it back;
  * --pollers polling clients, each in a loop: GET /v1/jobs/{the training job} and GET /v1/jobs.
Every response must be a 2xx with a whole body (the sampled row count is checked); anything else is an error.
Prints a JSON summary (and writes it to --out): per kind of request count, errors, p50/p90/p99/max latency
(to the last byte), requests and rows per second; the job's progress during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0

    def summary(self, seconds: float) -> dict:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {
            "requests": len(lat) + len(self.errors), "ok": len(lat), "errors": len(self.errors),
            "error_samples": self.errors[:10],
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "requests_per_s": round(len(lat) / seconds, 1), "rows_per_s": round(self.rows / seconds, 1),
        }


async def _sampler(client: httpx.AsyncClient, deadline: float, rows: int, index: int, stats: Stats) -> None:
    formats = ("csv", "jsonl", "parquet")
    i = index
    while time.monotonic() < deadline:
        fmt = formats[i % 3]
        i += 1
        started = time.monotonic()
        try:
            resp = await client.get("/sample", params={"n": rows, "format": fmt, "seed": i})
            got = _count_rows(resp, fmt) if resp.status_code == 200 else -1
            if resp.status_code != 200 or got != rows:
                stats.errors.append(f"sample {resp.status_code} rows={got}: {resp.text[:200]}")
                continue
            stats.latencies.append(time.monotonic() - started)
            stats.rows += rows
        except httpx.HTTPError as exc:
            stats.errors.append(f"sample {type(exc).__name__}: {exc}")


def _count_rows(resp: httpx.Response, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(resp.content)).num_rows
    lines = resp.text.count("\n")
    return lines - 1 if fmt == "csv" else lines


async def _uploader(client: httpx.AsyncClient, deadline: float, body: bytes, stats: Stats) -> None:
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            resp = await client.post("/v1/datasets", files={"file": ("load.csv", body, "text/csv")})
            if resp.status_code != 201:
                stats.errors.append(f"upload {resp.status_code}: {resp.text[:200]}")
                continue
            back = await client.get(f"/v1/datasets/{resp.json()['id']}")
            if back.status_code != 200 or back.json()["rows"] != 200:
                stats.errors.append(f"upload read-back {back.status_code}: {back.text[:200]}")
                continue
            stats.latencies.append(time.monotonic() - started)
        except httpx.HTTPError as exc:
            stats.errors.append(f"upload {type(exc).__name__}: {exc}")
        await asyncio.sleep(0.5)


async def _poller(client: httpx.AsyncClient, deadline: float, job_id: str, stats: Stats, seen: list) -> None:
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            one = await client.get(f"/v1/jobs/{job_id}")
            many = await client.get("/v1/jobs", params={"limit": 20})
            if one.status_code != 200 or many.status_code != 200:
                stats.errors.append(f"poll {one.status_code}/{many.status_code}: {one.text[:200]}")
                continue
            stats.latencies.append(time.monotonic() - started)
            seen.append((round(time.monotonic(), 1), one.json()["status"], one.json()["epoch"]))
        except httpx.HTTPError as exc:
            stats.errors.append(f"poll {type(exc).__name__}: {exc}")
        await asyncio.sleep(0.25)


async def run_load(base: str, key: str, job_id: str, *, clients: int = 50, seconds: float = 60, rows: int = 100,
                   uploaders: int = 2, pollers: int = 5, upload_body: bytes | None = None) -> dict:
    """Drive the service at `base` for `seconds`; returns the summary (see the module docstring)."""
    if upload_body is None:
        from tests.conftest import small_csv

        upload_body = small_csv(200)
    limits = httpx.Limits(max_connections=clients + uploaders + pollers + 5,
                          max_keepalive_connections=clients + uploaders + pollers + 5)
    headers = {"Authorization": f"Bearer {key}"}
    kinds = {"sample": Stats(), "upload": Stats(), "poll": Stats()}
    seen: list = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:
        warm = await client.get("/sample", params={"n": rows})  # load the model once before the clock starts
        if warm.status_code != 200:
            raise SystemExit(f"the service cannot sample: {warm.status_code} {warm.text[:300]}")
        started = time.monotonic()
        deadline = started + seconds
        tasks = [_sampler(client, deadline, rows, i, kinds["sample"]) for i in range(clients)]
        tasks += [_uploader(client, deadline, upload_body, kinds["upload"]) for _ in range(uploaders)]
        tasks += [_poller(client, deadline, job_id, kinds["poll"], seen) for _ in range(pollers)]
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    out = {kind: stats.summary(elapsed) for kind, stats in kinds.items()}
    out["all"] = Stats(latencies=sum((s.latencies for s in kinds.values()), []),
                       errors=sum((s.errors for s in kinds.values()), []),
                       rows=kinds["sample"].rows).summary(elapsed)
    out["seconds"] = round(elapsed, 1)
    out["config"] = {"clients": clients, "uploaders": uploaders, "pollers": pollers, "rows_per_sample": rows}
    if seen:
        out["training_job"] = {"first": seen[0][1:], "last": seen[-1][1:]}
    return out


# --- a service of its own ----------------------------------------------------------------------------------------


def _own_service(workdir: Path, epochs: int) -> tuple:
    from tests.conftest import EXAMPLE, TEST_DATABASE_URL, TINY, Service, wait_for

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHD_") and k != "DATABASE_URL"}
    base_env.update({"SYNTHD_WORKER_TORCH_THREADS": "1", "SYNTHD_POLL_SECONDS": "0.5", "PYTHONUNBUFFERED": "1",
                     "SYNTHD_QUALITY_ROWS": "500"})
    service = Service("load", workdir, base_env)
    try:
        base = service.start_api()
        key = service.key("load")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            data = client.post("/v1/datasets", files={"file": ("adult.csv", EXAMPLE.read_bytes(), "text/csv")})
            data.raise_for_status()
            first = client.post("/v1/jobs", json={"dataset_id": data.json()["id"],
                                                  "params": {**TINY, "epochs": 3}})
            first.raise_for_status()
            service.workers.start("load-worker")

            def status(job_id: str) -> str:
                state = client.get(f"/v1/jobs/{job_id}").json()
                if state["status"] in ("failed", "cancelled"):
                    raise SystemExit(f"job {job_id} {state['status']}: {state['error']}")
                return state["status"]

            wait_for(lambda: status(first.json()["id"]) == "succeeded", 600, "the model to sample from")
            long = client.post("/v1/jobs", json={"dataset_id": data.json()["id"],
                                                 "params": {**TINY, "epochs": epochs, "batch_size": 100}})
            long.raise_for_status()
            long = long.json()
            wait_for(lambda: status(long["id"]) == "running", 120, "the worker to start training")
    except BaseException:
        service.close()
        raise
    print(f"service up at {base} ({TEST_DATABASE_URL.rsplit('/', 1)[0]}/..._load); worker training job "
          f"{long['id']}", file=sys.stderr, flush=True)
    return service, base, key, long["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rows", type=int, default=100, help="rows per sample request")
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--pollers", type=int, default=5)
    parser.add_argument("--base", help="a running service (then --key and --job are needed)")
    parser.add_argument("--key")
    parser.add_argument("--job", help="a job id to poll")
    parser.add_argument("--epochs", type=int, default=10_000, help="epochs of the job trained during the test")
    parser.add_argument("--out", type=Path, help="write the JSON summary here too")
    args = parser.parse_args(argv)

    service = None
    if args.base:
        base, key, job_id = args.base, args.key, args.job
    else:
        import tempfile

        service, base, key, job_id = _own_service(Path(tempfile.mkdtemp(prefix="synthd-load-")), args.epochs)
    try:
        result = asyncio.run(run_load(base, key, job_id, clients=args.clients, seconds=args.seconds, rows=args.rows,
                                      uploaders=args.uploaders, pollers=args.pollers))
        if service is not None:
            result["api_alive"] = service.api_proc.poll() is None
            result["worker_alive"] = all(p.poll() is None for p in service.workers.procs)
    finally:
        if service is not None:
            service.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if result["all"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
