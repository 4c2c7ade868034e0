"""Every setting synthd reads, in one place: environment variables prefixed SYNTHD_ (DATABASE_URL has none)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHD_", extra="ignore")

    # --- state -----------------------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SYNTHD_DATABASE_URL"),
        description="SQLAlchemy/libpq URL of Postgres; unset: an embedded SQLite file in data_dir.",
    )
    data_dir: Path = Field(Path(".synthd"), description="Local state: the SQLite file, local blobs, caches.")
    blob_url: str | None = Field(
        None,
        description="Blob store root: a local folder or an fsspec URL such as s3://bucket/prefix "
        "(unset: <data_dir>/blobs).",
    )
    blob_options: dict = Field(
        default_factory=dict,
        description='JSON of fsspec storage options, e.g. {"endpoint_url": "http://minio:9000", "key": ...}.',
    )
    auto_migrate: bool = Field(False, description="Apply Alembic migrations when the API or worker starts.")
    db_lock_timeout_seconds: float = Field(
        3.0, ge=0, description="Longest an API statement waits for a row lock (0: no limit); a job's row held by "
        "a stuck worker answers 409 job_busy instead of hanging the request.")
    db_statement_timeout_seconds: float = Field(
        30.0, ge=0, description="Longest any API or worker statement runs (0: no limit).")
    db_idle_in_transaction_seconds: float = Field(
        10.0, ge=0, description="A worker's session idle inside a transaction this long is ended by Postgres, "
        "freeing the job rows it locked (0: never). A worker's transactions last milliseconds.")
    db_worker_lock_timeout_seconds: float = Field(
        5.0, ge=0, description="Longest a worker's statement waits for a row lock (0: no limit). Below the idle "
        "limit: a write queued behind a frozen worker's then gives up before that worker's session is ended, "
        "instead of taking the row and freezing with it.")
    db_keepalive_seconds: float = Field(
        10.0, gt=0, description="Idle seconds before TCP keepalive probes on every Postgres connection, on both "
        "ends; a vanished peer is dropped 15 s after (3 probes 5 s apart).")
    fault_freeze_at: str | None = Field(
        None, pattern=r"^checkpoint_write(:[1-9][0-9]*)?$",
        description="Tests only: `checkpoint_write:N` makes a worker stop itself (SIGSTOP) inside the transaction "
        "that records its Nth checkpoint (default the first), between the UPDATE and the COMMIT.")

    # --- API -------------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    keep_alive_seconds: int = Field(
        75, ge=1, description="How long the API keeps an idle client connection open. Above the idle timeout of "
        "clients' pools and of load balancers (60s), so that the server never closes a connection a client is "
        "about to reuse.")
    max_upload_bytes: int = Field(100 * 1024 * 1024, gt=0, description="Largest CSV upload; refused while streaming.")
    max_columns: int = Field(1000, ge=1, description="Most columns an uploaded table may have.")
    min_rows: int = Field(10, ge=1, description="Fewest rows an uploaded table may have.")
    max_sample_rows: int = Field(10_000_000, gt=0, description="Largest n on the sample routes.")
    sample_chunk_rows: int = Field(50_000, gt=0, description="Rows generated and sent per chunk when sampling.")
    model_cache_size: int = Field(4, description="Trained models kept loaded in the API process (LRU).")
    api_torch_threads: int = Field(0, description="torch threads in the API process; 0: min(4, cores).")
    sweep_on_start: bool = Field(True, description="Sweep orphaned blobs and upload leftovers when the API starts.")
    sweep_grace_seconds: float = Field(
        3600.0, ge=0, description="The sweep leaves alone anything younger than this (writes still in flight).")

    ui_session_hours: float = Field(12.0, gt=0, description="How long a dashboard sign-in lasts.")
    ui_secure_cookies: bool = Field(
        False, description="Mark the dashboard's cookies Secure even when the request did not arrive over HTTPS "
        "(behind a TLS proxy that sends no X-Forwarded-Proto); over HTTPS they are Secure anyway.")

    # --- worker ----------------------------------------------------------------------------------------
    device: str = Field("auto", description="Training device: auto (CUDA when present), cpu, cuda, cuda:1.")
    worker_torch_threads: int = Field(0, description="torch CPU threads per worker; 0: all cores.")
    lease_seconds: float = Field(60.0, gt=0, description="A running job's lease; a worker renews it every third.")
    max_attempts: int = Field(3, ge=1, description="Claims of one job (worker deaths or crashes) before it fails.")
    retry_backoff_seconds: float = Field(
        15.0, ge=0, description="A job that failed with attempts left waits this long before it is claimed again, "
        "doubling with each attempt (at most 10 minutes).")
    checkpoint_every: int = Field(5, ge=1, description="Epochs between training checkpoints.")
    poll_seconds: float = Field(1.0, description="How long an idle worker waits before looking for a job.")
    holdout_fraction: float = Field(0.2, ge=0, lt=1, description="Rows kept back (seeded) to score the model on.")
    quality_rows: int = Field(5000, description="Most rows used by the quality report, per side.")

    # --- job parameter bounds --------------------------------------------------------------------------
    max_epochs: int = Field(10_000, ge=1, description="Upper bound on a job's epochs.")

    @model_validator(mode="after")
    def _worker_locks_give_up_first(self) -> Settings:
        idle, wait = self.db_idle_in_transaction_seconds, self.db_worker_lock_timeout_seconds
        if idle and (not wait or wait >= idle):
            raise ValueError(f"SYNTHD_DB_WORKER_LOCK_TIMEOUT_SECONDS ({wait}) must be above 0 and below "
                             f"SYNTHD_DB_IDLE_IN_TRANSACTION_SECONDS ({idle}): a worker's write queued behind a "
                             "frozen one must give up before that one's session is ended")
        return self

    @cached_property
    def sqlalchemy_url(self) -> str:
        url = self.database_url
        if not url:
            return f"sqlite:///{(self.data_dir / 'synthd.db').resolve()}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def blob_root(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())


def get_settings() -> Settings:
    """A fresh read of the environment (the app and the worker each keep the one they start with)."""
    return Settings()
