"""The sweep: make the blob store and the database agree again after a crash.

Every write puts the blob first and commits its row after, so a process killed in between (the API during an
upload, a worker while storing a model or a checkpoint) can leave a blob without a row, never a row without a
blob. The sweep removes those blobs, and the upload temp folders a killed API leaves, once they are older than
a grace period (younger ones may belong to a write still in flight in another process). It also reports rows
whose blob has gone missing (the store lost it); with `delete_missing_rows` it deletes them, so that the API
answers 404 instead of failing on them.

Two guards keep a misconfiguration from destroying data: nothing is deleted when the database has no rows at
all while the store has blobs (an empty database pointed at a store in use), and missing blobs are only
reported, not acted on, when none of the rows' blobs are present (a wrong or empty store).

It runs in the background when the API starts (SYNTHD_SWEEP_ON_START) and as `synthd sweep`.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.models import FINAL_STATES, Dataset, Job, Model, is_id
from app.storage import BlobStore

log = logging.getLogger("synthd.sweep")
_BATCH = 500


@dataclass
class SweepReport:
    temp_uploads: list[str] = field(default_factory=list)
    dataset_blobs: list[str] = field(default_factory=list)
    model_blobs: list[str] = field(default_factory=list)
    checkpoint_blobs: list[str] = field(default_factory=list)
    datasets_missing_blob: list[str] = field(default_factory=list)
    models_missing_blob: list[str] = field(default_factory=list)
    deleted_rows: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return len(self.temp_uploads) + len(self.dataset_blobs) + len(self.model_blobs) + len(self.checkpoint_blobs)

    def to_dict(self) -> dict:
        return asdict(self)


def _batches(ids: list[str]) -> Iterator[list[str]]:
    """`ids` in slices small enough for one IN (...) list."""
    for start in range(0, len(ids), _BATCH):
        yield ids[start:start + _BATCH]


def _existing(session: Session, column, ids: list[str]) -> set[str]:  # noqa: ANN001
    return {found for batch in _batches(ids) for found in session.scalars(select(column).where(column.in_(batch)))}


def _old(blobs: BlobStore, key: str, now: float, grace: float) -> bool:
    age = blobs.age_seconds(key, now)
    return age is not None and age >= grace


def _sweep_temp(data_dir: Path, now: float, grace: float, report: SweepReport) -> None:
    tmp = Path(data_dir) / "tmp"
    if not tmp.is_dir():
        return
    for folder in tmp.glob("upload-*"):
        try:
            stamps = [p.stat().st_mtime for p in folder.rglob("*")] + [folder.stat().st_mtime]
        except FileNotFoundError:
            continue  # finished (and removed) while we looked
        if now - max(stamps) >= grace:
            shutil.rmtree(folder, ignore_errors=True)
            report.temp_uploads.append(folder.name)


def sweep(sessions: sessionmaker[Session], blobs: BlobStore, data_dir: Path, grace_seconds: float,
          delete_missing_rows: bool = False, dry_run: bool = False) -> SweepReport:
    now = time.time()
    report = SweepReport()
    if not dry_run:
        _sweep_temp(data_dir, now, grace_seconds, report)

    # Rows are read before the store is listed: a row exists only once its blob does, so a row read here whose
    # blob is absent from the later listing has truly lost it.
    with sessions() as session:
        dataset_rows = [(i, k) for i, k in session.execute(select(Dataset.id, Dataset.blob_key))]
        model_rows = [(i, k) for i, k in session.execute(select(Model.id, Model.blob_key))]

    dataset_files = {name[: -len(".parquet")]: name for name, is_dir in blobs.children("datasets")
                     if not is_dir and name.endswith(".parquet") and is_id(name[: -len(".parquet")])}
    model_dirs = {name for name, is_dir in blobs.children("models") if is_dir and is_id(name)}
    checkpoint_dirs = {name for name, is_dir in blobs.children("checkpoints") if is_dir and is_id(name)}

    # Blobs listed here whose row is not committed yet are young: the grace period keeps them.
    with sessions() as session:
        known_datasets = _existing(session, Dataset.id, sorted(dataset_files))
        known_models = _existing(session, Model.id, sorted(model_dirs))
        jobs = {job_id: (status, key) for batch in _batches(sorted(checkpoint_dirs)) for job_id, status, key in
                session.execute(select(Job.id, Job.status, Job.checkpoint_key).where(Job.id.in_(batch)))}

    # --- blobs without rows ---------------------------------------------------------------------------------
    orphans: list[tuple[str, list[str]]] = []
    for dataset_id, name in sorted(dataset_files.items()):
        if dataset_id not in known_datasets:
            orphans.append((f"datasets/{name}", report.dataset_blobs))
    for model_id in sorted(model_dirs - known_models):
        orphans.append((f"models/{model_id}", report.model_blobs))
    for job_id in sorted(checkpoint_dirs):
        status, current = jobs.get(job_id, ("missing", None))
        if status == "missing" or status in FINAL_STATES:
            orphans.append((f"checkpoints/{job_id}", report.checkpoint_blobs))
            continue
        for name, is_dir in blobs.children(f"checkpoints/{job_id}"):
            key = f"checkpoints/{job_id}/{name}"
            if is_dir and key != (current or "").rstrip("/"):
                orphans.append((key, report.checkpoint_blobs))
    if orphans and not dataset_rows:
        report.skipped.append(f"{len(orphans)} blob(s) have no row, but the database has no datasets at all: is "
                              "DATABASE_URL the database this blob store belongs to? Nothing was deleted.")
        orphans = []
    for key, bucket in orphans:
        if _old(blobs, key, now, grace_seconds):
            if not dry_run:
                blobs.delete(key)
            bucket.append(key)

    # --- rows without blobs -----------------------------------------------------------------------------------
    present = {f"datasets/{name}" for name in dataset_files.values()} | {f"models/{name}" for name in model_dirs}
    rows = [("dataset", i, k) for i, k in dataset_rows] + [("model", i, k) for i, k in model_rows]
    lost = [(kind, i) for kind, i, key in rows if key.rstrip("/") not in present]
    if lost and len(lost) == len(rows):
        report.skipped.append(f"none of the {len(rows)} rows' blobs is in the store at {blobs.root}: is "
                              "SYNTHD_BLOB_URL right? No row was touched.")
        lost = []
    report.datasets_missing_blob = [i for kind, i in lost if kind == "dataset"]
    report.models_missing_blob = [i for kind, i in lost if kind == "model"]
    if delete_missing_rows and not dry_run and lost:
        with sessions() as session:  # a dataset's jobs and models go with it (ON DELETE CASCADE)
            for column, table, ids in ((Model.id, Model, report.models_missing_blob),
                                       (Dataset.id, Dataset, report.datasets_missing_blob)):
                for batch in _batches(ids):
                    session.execute(delete(table).where(column.in_(batch)))
            session.commit()
        report.deleted_rows = [f"models/{m}" for m in report.models_missing_blob] + \
            [f"datasets/{d}" for d in report.datasets_missing_blob]
    return report


def run_sweep(sessions: sessionmaker[Session], blobs: BlobStore, settings: Settings, **kwargs) -> SweepReport:
    report = sweep(sessions, blobs, settings.data_dir, settings.sweep_grace_seconds, **kwargs)
    if report.removed or report.deleted_rows:
        log.info("sweep removed %d temp upload(s), %d dataset blob(s), %d model blob(s), %d checkpoint(s), "
                 "%d row(s) whose blob was missing", len(report.temp_uploads), len(report.dataset_blobs),
                 len(report.model_blobs), len(report.checkpoint_blobs), len(report.deleted_rows))
    if report.datasets_missing_blob or report.models_missing_blob:
        log.warning("sweep: %d dataset(s) and %d model(s) have lost their blob (`synthd sweep "
                    "--delete-missing-rows` removes them): %s", len(report.datasets_missing_blob),
                    len(report.models_missing_blob),
                    (report.datasets_missing_blob + report.models_missing_blob)[:10])
    for line in report.skipped:
        log.error("sweep: %s", line)
    return report


def sweep_in_background(sessions: sessionmaker[Session], blobs: BlobStore, settings: Settings,
                        on_done: Callable[[SweepReport | None], None] | None = None) -> threading.Thread:
    """Start a sweep on a daemon thread (the API does not wait for it to start serving)."""

    def _run() -> None:
        report = None
        try:
            report = run_sweep(sessions, blobs, settings)
            log.info("sweep finished")
        except Exception:
            log.exception("sweep failed; it runs again at the next start (or `synthd sweep`)")
        if on_done is not None:
            on_done(report)

    thread = threading.Thread(target=_run, name="synthd-sweep", daemon=True)
    thread.start()
    return thread
