"""Fixtures for the service tests: a real Postgres database, the API in a uvicorn subprocess on a free port,
worker subprocesses, API keys. Nothing here connects anywhere until a test asks for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "adult_2000.csv"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/synthd_test")
SMALL_COLUMNS = ["age", "workclass", "education", "sex", "race", "hours-per-week", "income"]
# Tiny networks and few epochs: these tests check the service, not the engine's quality.
TINY = {"epochs": 2, "batch_size": 50, "embedding_dim": 16, "generator_dim": [32, 32],
        "discriminator_dim": [32, 32]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_csv(rows: int = 300) -> bytes:
    frame = pd.read_csv(EXAMPLE, skipinitialspace=True, nrows=rows)[SMALL_COLUMNS]
    return frame.to_csv(index=False).encode()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2):  # noqa: ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def spawn(command: list[str], env: dict[str, str], log_path: Path, append: bool = True) -> subprocess.Popen:
    """`command` in the repository, its stdout and stderr into `log_path` (the child keeps the file open;
    this process does not)."""
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_api_ready(proc: subprocess.Popen, base: str, log_path: Path, timeout: float) -> None:
    """Until the API at `base` answers /readyz with 200; fails at once, with its log, if it exits."""

    def ready() -> bool:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            raise AssertionError(f"the API exited: {log[-3000:]}")
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, timeout, "the API to be ready")


def metric(base: str, series: str) -> float:
    """A Prometheus series' value from the API's /metrics: `name{labels}` exactly, or `name` summed over
    its labels."""
    lines = httpx.get(f"{base}/metrics", timeout=30).text.splitlines()
    starts = (series + " ",) if "{" in series else (series + " ", series + "{")
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(starts))


def job_of(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"/v1/jobs/{job_id}").json()


def finished_job(client: httpx.Client, job_id: str, timeout: float, what: str) -> dict:
    """The job once it has succeeded, failed or been cancelled (polled every 0.3 s)."""
    return wait_for(lambda: (j := job_of(client, job_id))["status"] in ("succeeded", "failed", "cancelled") and j,
                    timeout, what, interval=0.3)


def _ensure_database(url: str) -> None:
    """A new, empty database at `url` (dropped first when it exists)."""
    import psycopg
    from sqlalchemy.engine import make_url

    _drop_database(url)
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh Postgres database for this run, migrated to head with Alembic."""
    from app.core.config import Settings
    from app.core.migrate import upgrade

    try:
        _ensure_database(TEST_DATABASE_URL)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Postgres is needed for these tests ({TEST_DATABASE_URL}): {exc}. `make test` starts it.")
    upgrade(Settings(database_url=TEST_DATABASE_URL))
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthd-state")


@pytest.fixture(scope="session")
def service_env(database_url: str, state_dir: Path) -> dict[str, str]:
    """Environment shared by the API and worker subprocesses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHD_") and k != "DATABASE_URL"}
    env.update({
        "DATABASE_URL": database_url,
        "SYNTHD_DATA_DIR": str(state_dir),
        "SYNTHD_BLOB_URL": str(state_dir / "blobs"),
        "SYNTHD_MAX_UPLOAD_BYTES": str(1_000_000),
        "SYNTHD_MAX_SAMPLE_ROWS": str(200_000),
        "SYNTHD_SAMPLE_CHUNK_ROWS": str(10_000),
        "SYNTHD_QUALITY_ROWS": "200",
        "SYNTHD_WORKER_TORCH_THREADS": "1",
        "SYNTHD_API_TORCH_THREADS": "1",
        "SYNTHD_POLL_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@pytest.fixture(scope="session")
def settings(service_env: dict[str, str]):  # noqa: ANN201
    from app.core.config import Settings

    return Settings(database_url=service_env["DATABASE_URL"], data_dir=Path(service_env["SYNTHD_DATA_DIR"]),
                    blob_url=service_env["SYNTHD_BLOB_URL"])


@pytest.fixture(scope="session")
def db(settings):  # noqa: ANN001, ANN201
    """A sessionmaker on the test database (for looking behind the API, never instead of it)."""
    from app.core.db import make_engine, make_sessionmaker

    engine = make_engine(settings)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def api(service_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    """The API served by uvicorn in a subprocess; yields its base URL."""
    port = free_port()
    proc = spawn([sys.executable, "-m", "uvicorn", "app.api.main:create_app", "--factory", "--host", "127.0.0.1",
                  "--port", str(port), "--log-level", "warning", "--timeout-keep-alive", "75"],  # as `synthd serve`
                 service_env, state_dir / "api.log")
    base = f"http://127.0.0.1:{port}"
    wait_api_ready(proc, base, state_dir / "api.log", 60)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def make_key(db) -> Callable[[str], str]:  # noqa: ANN001
    from app.tenants import create_key

    def make(tenant: str) -> str:
        with db() as session:
            return create_key(session, tenant)

    return make


@pytest.fixture
def client_for(api: str, make_key) -> Iterator[Callable[[str], httpx.Client]]:  # noqa: ANN001
    """client_for("tenant") -> an httpx client carrying a fresh key of that tenant."""
    clients: list[httpx.Client] = []

    def make(tenant: str) -> httpx.Client:
        client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {make_key(tenant)}"}, timeout=60)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class Workers:
    """Start `synthd worker` subprocesses; every one still running is killed at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.procs = env, log_dir, []

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        log = self.log_dir / f"worker-{name}.log"
        proc = spawn([sys.executable, "-m", "synthd", "worker", "--id", name, *args], {**self.env, **env}, log,
                     append=False)
        proc.log_path = log
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def workers(service_env: dict[str, str], tmp_path: Path, db) -> Iterator[Workers]:  # noqa: ANN001
    """Worker processes on a queue that holds only this test's jobs (earlier tests' leftovers are cancelled)."""
    clear_queue(db)
    pool = Workers(service_env, tmp_path)
    yield pool
    pool.stop_all()


def job_row(db, job_id: str):  # noqa: ANN001, ANN201
    from app.models import Job

    with db() as session:
        return session.get(Job, job_id)


def clear_queue(db) -> None:  # noqa: ANN001
    """Cancel every queued or running job left by earlier tests, so a worker sees only the caller's."""
    from sqlalchemy import update

    from app.models import Job

    with db() as session:
        session.execute(update(Job).where(Job.status.in_(("queued", "running"))).values(status="cancelled"))
        session.commit()


@pytest.fixture(scope="session")
def trained(api: str, make_key, db, service_env: dict[str, str], state_dir: Path) -> dict:  # noqa: ANN001
    """One tenant with one trained model (tiny: 300 rows, 2 epochs), trained by `synthd worker --once`."""
    key = make_key("trained-tenant")
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        resp = client.post("/v1/datasets", files={"file": ("adult.csv", small_csv(), "text/csv")})
        assert resp.status_code == 201, resp.text
        dataset = resp.json()
        clear_queue(db)
        resp = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "params": TINY})
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["id"]
        done = subprocess.run([sys.executable, "-m", "synthd", "worker", "--once"], cwd=ROOT, env=service_env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "succeeded", (job, done.stderr[-3000:])
    return {"key": key, "dataset_id": dataset["id"], "job_id": job_id, "model_id": job["model_id"]}


def stored(db, state_dir: Path) -> dict[str, int]:  # noqa: ANN001
    """What the service has kept: rows per table, and files in the blob store and the upload temp folder.
    Refused requests must leave every one of these unchanged."""
    from sqlalchemy import func, select

    from app.models import Dataset, Job, Model

    with db() as session:
        counts = {table.__tablename__: session.scalar(select(func.count()).select_from(table))
                  for table in (Dataset, Job, Model)}
    counts["blob_files"] = sum(1 for p in (state_dir / "blobs").rglob("*") if p.is_file())
    tmp = state_dir / "tmp"
    counts["temp_files"] = sum(1 for p in tmp.rglob("*")) if tmp.exists() else 0
    return counts


def _drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (parsed.database,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}"')


class Service:
    """A whole synthd of its own for one test: its own Postgres database (on the test cluster), state folder and
    blob store, an API process it can kill and restart, and workers. Fault tests break it freely."""

    def __init__(self, name: str, root: Path, base_env: dict[str, str], **env: str) -> None:
        from sqlalchemy.engine import make_url

        from app.core.config import Settings
        from app.core.db import make_engine, make_sessionmaker
        from app.core.migrate import upgrade

        url = make_url(TEST_DATABASE_URL)
        self.database_url = url.set(database=f"{url.database}_{name}").render_as_string(hide_password=False)
        _ensure_database(self.database_url)
        upgrade(Settings(database_url=self.database_url))
        self.root = root
        self.state = root / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.env = {**base_env, "DATABASE_URL": self.database_url, "SYNTHD_DATA_DIR": str(self.state),
                    "SYNTHD_BLOB_URL": str(self.state / "blobs"), **env}
        self.settings = Settings(database_url=self.database_url, data_dir=self.state,
                                 blob_url=str(self.state / "blobs"))
        self.engine = make_engine(self.settings)
        self.db = make_sessionmaker(self.engine)
        self.api_proc: subprocess.Popen | None = None
        self.base = ""
        self.workers = Workers(self.env, root)
        self.procs: list[subprocess.Popen] = []

    def start_api(self, timeout: float = 60, **env: str) -> str:
        port = free_port()
        log_path = self.root / "api.log"
        self.api_proc = spawn(  # the way operators run it: `synthd serve`
            [sys.executable, "-m", "synthd", "serve", "--host", "127.0.0.1", "--port", str(port)],
            {**self.env, **env}, log_path)
        self.procs.append(self.api_proc)
        self.base = f"http://127.0.0.1:{port}"
        wait_api_ready(self.api_proc, self.base, log_path, timeout)
        return self.base

    def api_log(self) -> str:
        path = self.root / "api.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_api(self, sig: int = signal.SIGKILL) -> None:
        if self.api_proc is not None and self.api_proc.poll() is None:
            self.api_proc.send_signal(sig)
            self.api_proc.wait(timeout=30)

    def key(self, tenant: str) -> str:
        from app.tenants import create_key

        with self.db() as session:
            return create_key(session, tenant)

    def client(self, tenant: str, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.key(tenant)}"},
                            timeout=timeout)

    def close(self) -> None:
        self.workers.stop_all()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        self.engine.dispose()
        _drop_database(self.database_url)


@pytest.fixture
def own_service(tmp_path: Path, service_env: dict[str, str], database_url: str) -> Iterator[Callable[..., Service]]:
    """own_service("name", **env) -> a Service of its own (database dropped at teardown)."""
    made: list[Service] = []

    def make(name: str, **env: str) -> Service:
        service = Service(name, tmp_path / name, service_env, **env)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()
