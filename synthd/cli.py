"""`synthd`: serve, worker, migrate, create-key, sweep, demo; and, against a running service (--url/SYNTHD_URL,
--key/SYNTHD_KEY, through the synthd_client package): train, sample, jobs, models, report, cancel."""

from __future__ import annotations

import argparse

from app.core.config import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.core.threads import apply_api_openmp_env

    apply_api_openmp_env()  # before torch loads, which app.api.main brings
    import uvicorn

    if args.migrate:
        from app.core.migrate import upgrade

        upgrade(settings)
    from app.api.main import create_app

    uvicorn.run(create_app(settings), host=args.host or settings.host, port=args.port or settings.port,
                log_level=args.log_level, proxy_headers=True, timeout_keep_alive=settings.keep_alive_seconds)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from worker.main import main as worker_main

    if args.migrate:
        from app.core.migrate import upgrade

        upgrade(settings)
    return worker_main(settings, once=args.once, max_jobs=args.max_jobs, worker_id=args.id)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.core.migrate import upgrade

    upgrade(settings, args.revision)
    where = settings.sqlalchemy_url.split("@")[-1] if not settings.is_sqlite else settings.sqlalchemy_url
    print(f"database at {args.revision}: {where}")
    return 0


def _create_key(args: argparse.Namespace, settings: Settings) -> int:
    from app.core.db import make_engine, make_sessionmaker
    from app.tenants import create_key

    engine = make_engine(settings, "admin")
    try:
        with make_sessionmaker(engine)() as session:
            key = create_key(session, args.tenant)
    finally:
        engine.dispose()
    print(key)
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from app.core.db import make_engine, make_sessionmaker
    from app.storage import BlobStore
    from app.sweep import run_sweep

    if args.grace is not None:
        settings = settings.model_copy(update={"sweep_grace_seconds": args.grace})
    engine = make_engine(settings, "admin")
    try:
        report = run_sweep(make_sessionmaker(engine), BlobStore.from_settings(settings), settings,
                           delete_missing_rows=args.delete_missing_rows, dry_run=args.dry_run)
    finally:
        engine.dispose()
    print(json.dumps(report.to_dict(), indent=2))
    return 1 if report.skipped else 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from synthd.demo import run_demo

    return run_demo(settings, args)


# --- commands that talk to a running service ------------------------------------------------------------------


def _client(args: argparse.Namespace):  # noqa: ANN202 - a synthd_client.Client
    from synthd_client import Client

    return Client(args.url, args.key, progress=not args.quiet)


def _param_value(text: str):  # noqa: ANN202
    """A --param value: JSON when it parses (numbers, lists, true), else the text itself."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    params: dict = {}
    for name in ("epochs", "batch_size", "max_seconds", "seed", "target"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.kinds:
        params["column_kinds"] = dict(item.rsplit(":", 1) for item in args.kinds.split(","))
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param {item!r}: expected NAME=VALUE")
        params[key] = _param_value(value)
    with _client(args) as client:
        if Path(args.file).is_file():
            dataset = client.upload(args.file)
            print(f"dataset {dataset['id']}: {dataset['rows']:,} rows, {dataset['n_columns']} columns")
        else:
            dataset = client.dataset(args.file)  # a dataset id
        job = client.train(dataset, wait=False, **params)
        print(f"job {job['id']}: {job['status']}, {job['epochs']} epochs")
        if not args.wait:
            return 0
        job = client.wait(job)
        print(f"model {job['model_id']}")
    return 0


def _sample(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    conditions = {}
    for item in args.where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise SystemExit(f"--where {item!r}: expected COLUMN=VALUE or COLUMN=LOW..HIGH")
        conditions[column] = value
    with _client(args) as client:
        if args.output:
            client.sample_to(args.output, args.n, model=args.model, seed=args.seed, conditions=conditions,
                             fmt=args.format)
            print(f"{args.n:,} rows written to {args.output}", file=sys.stderr)
        else:
            client.sample_into(sys.stdout.buffer, args.n, model=args.model, seed=args.seed, conditions=conditions,
                               fmt=args.format or "csv")
            sys.stdout.flush()
    return 0


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())


def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    with _client(args) as client:
        jobs = client.jobs(status=args.status, limit=args.limit)
    _table([[j["id"], j["status"], f"{j['epoch']}/{j['epochs']}",
             "" if j.get("eta_seconds") is None else f"{j['eta_seconds']:.0f}s", j.get("model_id") or "",
             (j.get("error") or "")[:60]] for j in jobs], ["JOB", "STATUS", "EPOCH", "ETA", "MODEL", "ERROR"])
    return 0


def _models(args: argparse.Namespace, settings: Settings) -> int:
    with _client(args) as client:
        models = client.models(limit=args.limit)
    rows = []
    for m in models:
        report = m.get("report") or {}
        overall = report.get("overall")
        rows.append([m["id"], m["dataset_id"][:8], m["created_at"][:16].replace("T", " "),
                     "" if overall is None else f"{overall:.3f}", (report.get("summary") or {}).get("verdict") or "",
                     {True: "flagged", False: "ok", None: ""}[m.get("privacy_flagged")]])
    _table(rows, ["MODEL", "DATASET", "TRAINED", "QUALITY", "VERDICT", "PRIVACY"])
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    with _client(args) as client:
        path = args.output or f"report-{args.model[:8]}.html"
        client.report(args.model, path)
    print(f"report written to {path}")
    return 0


def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    with _client(args) as client:
        job = client.cancel(args.job)
    print(f"job {job['id']}: {job['status']}")
    return 0


def _remote(sub, name: str, help: str, func) -> argparse.ArgumentParser:  # noqa: ANN001, A002
    parser = sub.add_parser(name, help=help)
    parser.add_argument("--url", default=None, help="the service (SYNTHD_URL, default http://127.0.0.1:8000)")
    parser.add_argument("--key", default=None, help="an API key (SYNTHD_KEY)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthd", description="Self-hosted synthetic tabular data service.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument("--host", default=None, help="bind address (SYNTHD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (SYNTHD_PORT, default 8000)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="run a training worker")
    worker.add_argument("--once", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    worker.add_argument("--id", default=None, help="worker name in the jobs table (default host:pid:random)")
    worker.add_argument("--migrate", action="store_true", help="apply migrations first")
    worker.set_defaults(func=_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(func=_migrate)

    key = sub.add_parser("create-key", help="create an API key (and the tenant if new); prints the key")
    key.add_argument("--tenant", required=True, help="tenant name")
    key.set_defaults(func=_create_key)

    sweep = sub.add_parser("sweep", help="remove blobs without rows and stale upload temp files (after a crash)")
    sweep.add_argument("--grace", type=float, default=None,
                       help="leave alone anything younger than this many seconds (SYNTHD_SWEEP_GRACE_SECONDS)")
    sweep.add_argument("--delete-missing-rows", action="store_true",
                       help="also delete dataset and model rows whose blob is gone")
    sweep.add_argument("--dry-run", action="store_true", help="report only; delete nothing")
    sweep.set_defaults(func=_sweep)

    demo = sub.add_parser("demo", help="start the API and a worker, train on the bundled example, show samples")
    demo.add_argument("--csv", default=None, help="CSV to upload (default: the bundled example)")
    demo.add_argument("--epochs", type=int, default=None,
                      help="training epochs (default: the service's, which the table's size decides)")
    demo.add_argument("--batch-size", type=int, default=None, help="rows per step (default: the service's, 500)")
    demo.add_argument("--target", default=None,
                      help="a column the report scores ML utility on (default: income, for the bundled table)")
    demo.add_argument("--port", type=int, default=None, help="API port (SYNTHD_PORT, default 8000)")
    demo.add_argument("--tenant", default="demo")
    demo.add_argument("--exit", action="store_true", help="stop the API and worker once the demo has run")
    demo.set_defaults(func=_demo)

    train = _remote(sub, "train", "upload a CSV (or name a dataset id) and queue training", _train)
    train.add_argument("file", metavar="FILE", help="a CSV or Parquet file, or an uploaded dataset's id")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    train.add_argument("--max-seconds", dest="max_seconds", type=float, default=None, help="time budget")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--target", default=None, help="a column to predict, for the report's ML utility")
    train.add_argument("--kinds", default=None, help="override column kinds: col:kind,col:kind")
    train.add_argument("--param", action="append", metavar="NAME=VALUE",
                       help="any other training setting (JSON values: --param generator_dim=[128,128])")
    train.add_argument("--wait", action="store_true", help="follow training with a progress bar until it ends")

    sample = _remote(sub, "sample", "sample synthetic rows (CSV to stdout, or a file)", _sample)
    sample.add_argument("model", metavar="MODEL", nargs="?", default=None, help="a model id (default: your newest)")
    sample.add_argument("-n", type=int, required=True, help="rows")
    sample.add_argument("-o", "--output", default=None, help="a file; its extension (.csv .parquet .jsonl) "
                        "picks the format")
    sample.add_argument("--format", choices=("csv", "parquet", "jsonl"), default=None)
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--where", action="append", metavar="COLUMN=VALUE",
                        help="a condition every row meets: sex=Female, age=30..40 (repeatable)")

    jobs = _remote(sub, "jobs", "list your training jobs", _jobs)
    jobs.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "cancelled"), default=None)
    jobs.add_argument("--limit", type=int, default=50)

    models = _remote(sub, "models", "list your models", _models)
    models.add_argument("--limit", type=int, default=50)

    report = _remote(sub, "report", "download a model's self-contained HTML report", _report)
    report.add_argument("model", metavar="MODEL")
    report.add_argument("-o", "--output", default=None, help="default: report-<model>.html")

    cancel = _remote(sub, "cancel", "cancel a queued or running job", _cancel)
    cancel.add_argument("job", metavar="JOB")
    return parser


def main(argv: list[str] | None = None) -> int:
    import sys

    args = build_parser().parse_args(argv)
    try:
        return args.func(args, Settings())
    except Exception as exc:
        if type(exc).__name__ != "SynthdError":  # the client's errors: one line, no traceback
            raise
        print(f"synthd {args.command}: {exc}", file=sys.stderr)
        return 1
