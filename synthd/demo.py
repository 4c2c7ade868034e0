"""`synthd demo`: one command from nothing to synthetic rows on a laptop (embedded SQLite by default)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.core.config import Settings
from app.core.migrate import ROOT, upgrade
from app.models import FINAL_STATES, JobStatus

EXAMPLE = ROOT / "examples" / "adult_2000.csv"


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.core.db import make_engine, make_sessionmaker
    from app.tenants import create_key

    upgrade(settings)
    engine = make_engine(settings, "admin")
    with make_sessionmaker(engine)() as session:
        key = create_key(session, args.tenant)
    engine.dispose()

    port = args.port or settings.port
    base = f"http://{settings.host}:{port}"
    children = [
        subprocess.Popen([sys.executable, "-m", "synthd", "serve", "--port", str(port), "--log-level", "warning"]),
        subprocess.Popen([sys.executable, "-m", "synthd", "worker"]),
    ]
    try:
        code = _walkthrough(base, key, Path(args.csv) if args.csv else EXAMPLE, args)
        if code or args.exit:
            return code
        print("\nThe API and a worker keep running; Ctrl-C stops them.", flush=True)
        children[0].wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def _walkthrough(base: str, key: str, csv: Path, args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        _wait_ready(client)
        print(f"synthd is up at {base} (dashboard: {base}/ui, docs: {base}/docs)", flush=True)
        with open(csv, "rb") as fh:
            target = args.target or (None if args.csv else "income")
            given = {"train": "true", "epochs": args.epochs, "batch_size": args.batch_size, "target": target}
            resp = client.post("/v1/datasets", params={k: v for k, v in given.items() if v is not None},
                               files={"file": (csv.name, fh, "text/csv")})
        if resp.status_code != 201:
            print(f"upload failed: {resp.status_code} {resp.text}", file=sys.stderr)
            return 1
        dataset = resp.json()
        print(f"uploaded {csv.name}: dataset {dataset['id']}, {dataset['rows']} rows, "
              f"{dataset['n_columns']} columns; training job {dataset['job_id']}", flush=True)
        job = _follow(client, dataset["job_id"])
        if job["status"] != JobStatus.SUCCEEDED:
            print(f"job {job['status']}: {job.get('error')}", file=sys.stderr)
            return 1
        rows = client.get("/sample", params={"n": 5, "seed": 1})
        print("\nfive synthetic rows:\n" + rows.text, flush=True)
        model = job["model_id"]
        print(f"""Your API key (tenant {args.tenant}): {key}
Sign in with it at {base}/ui (the dashboard; the model's report: {base}/ui/models/{model}).
Try:
  export KEY={key}
  curl -H "Authorization: Bearer $KEY" "{base}/sample?n=1000" > synthetic.csv
  curl -H "Authorization: Bearer $KEY" "{base}/v1/models/{model}/sample?n=100000&format=parquet&seed=7&sex=Female" \\
       -o f.parquet
  curl -H "Authorization: Bearer $KEY" "{base}/sample?n=10&format=jsonl&age=30..40"
  curl -H "Authorization: Bearer $KEY" {base}/v1/models/{model}      # quality report
  curl -H "Authorization: Bearer $KEY" -F file=@your.csv "{base}/v1/datasets?train=true"
""", flush=True)
    return 0


def _wait_ready(client: httpx.Client, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the API did not come up")
        time.sleep(0.3)


def _follow(client: httpx.Client, job_id: str) -> dict:
    last = None
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        line = f"job {job['status']}: epoch {job['epoch']}/{job['epochs']}"
        if job.get("eta_seconds") is not None and job["status"] == JobStatus.RUNNING:
            line += f", about {job['eta_seconds']:.0f}s left"
        if line != last:
            print(line, flush=True)
            last = line
        if job["status"] in FINAL_STATES:
            return job
        time.sleep(1 if os.environ.get("CI") is None else 0.5)
