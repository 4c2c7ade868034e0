"""`synthd`: serve, worker, migrate, create-key, demo."""

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args, Settings())
