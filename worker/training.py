"""Train one claimed job: load its data, split a seeded holdout, fit (resuming from a checkpoint when there is
one), report progress and checkpoint as epochs complete, score the model and store it, all while holding the
job's lease. Every write is conditional on the lease; once it is lost (job cancelled, or taken over after a
lapse) the trainer stops at the end of the epoch and leaves no model behind."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from app import queue
from app.core.config import Settings
from app.core.jsonsafe import json_safe
from app.core.threads import torch_threads
from app.models import Dataset, Job, JobStatus, Model, new_id
from app.params import engine_settings, holdout_rows
from app.storage import BlobStore
from worker.scoring import score_model

log = logging.getLogger("synthd.worker")


@dataclass(frozen=True)
class WorkerContext:
    """What a trainer needs of the worker that runs it."""

    worker_id: str
    settings: Settings
    sessions: sessionmaker[Session]
    blobs: BlobStore
    stopping: threading.Event  # set when the worker is asked to shut down


class LeaseLost(Exception):
    pass


def split_holdout(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A seeded split: (train, holdout). Tables under 50 rows keep everything for training."""
    n_holdout = holdout_rows(len(frame), fraction)
    if not n_holdout:
        return frame, None
    order = np.random.default_rng(seed).permutation(len(frame))
    holdout = frame.iloc[np.sort(order[:n_holdout])].reset_index(drop=True)
    train = frame.iloc[np.sort(order[n_holdout:])].reset_index(drop=True)
    return train, holdout


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Trainer:
    def __init__(self, context: WorkerContext, claimed: queue.Claim) -> None:
        self.worker_id = context.worker_id
        self.stopping = context.stopping
        self.settings = context.settings
        self.sessions = context.sessions
        self.blobs = context.blobs
        self.job_id = claimed.job_id
        self.checkpoint_prefix = f"checkpoints/{self.job_id}"  # every checkpoint of this job lies under it
        self.attempt = claimed.attempt
        self.lost = threading.Event()
        self.done = threading.Event()
        self._writes = threading.Lock()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"synthd-job-{self.job_id[:8]}-"))

    # --- lease ------------------------------------------------------------------------------------------
    @contextmanager
    def job_session(self) -> Iterator[Session]:
        """A session for a write to this job's row. The worker's threads (training, lease heartbeat) take turns:
        two open transactions of one worker on the row would queue one behind the other in Postgres, and a worker
        frozen between them would keep the row locked for two idle limits instead of one."""
        with self._writes, self.sessions() as session:
            yield session

    def write(self, **progress) -> bool | None:
        """Renew the lease and write progress. True: still ours; False: lost (cancelled or taken over);
        None: the database did not answer, so nobody knows (the lease may still have time left)."""
        if self.lost.is_set():
            return False
        try:
            with self.job_session() as session:
                held = queue.renew(session, self.job_id, self.worker_id, self.settings.lease_seconds, **progress)
        except Exception as exc:
            log.warning("job %s: lease renewal failed (%s); will retry", self.job_id, first_line(exc))
            return None
        if not held:
            self.lost.set()
        return held

    def renew(self, **progress) -> bool:
        return self.write(**progress) is not False  # a database hiccup: carry on while the lease may hold

    def with_retry(self, what: str, action):  # noqa: ANN001, ANN201
        """Run a database action, retrying while the database is unreachable (a restart, a fail-over) for up
        to a lease's length. Raises the last error after that."""
        deadline = time.monotonic() + self.settings.lease_seconds
        delay = 0.5
        while True:
            try:
                return action()
            except Exception as exc:
                if not _transient(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning("job %s: %s failed (%s); retrying in %.1fs", self.job_id, what, first_line(exc), delay)
                time.sleep(delay)
                delay = min(5.0, delay * 2)

    def _heartbeat(self) -> None:
        interval = max(0.2, self.settings.lease_seconds / 3)
        while not self.done.wait(interval):
            if not self.renew():
                log.info("job %s: lease lost (cancelled or taken over)", self.job_id)
                return

    # --- the job ----------------------------------------------------------------------------------------
    def run(self) -> str:
        beat = threading.Thread(target=self._heartbeat, name=f"lease-{self.job_id[:8]}", daemon=True)
        beat.start()
        try:
            return self._run()
        except LeaseLost:
            if self._status() == JobStatus.CANCELLED:
                self._drop(self.checkpoint_prefix)
                return "cancelled"
            return "lost its lease (taken over by another worker)"
        except Exception as exc:
            from synth import SynthError

            permanent = isinstance(exc, SynthError)
            message = str(exc) if permanent else f"{type(exc).__name__}: {exc}"
            if not permanent:
                log.error("job %s failed:\n%s", self.job_id, traceback.format_exc())

            def record() -> str | None:
                with self.job_session() as session:
                    return queue.fail(session, self.job_id, self.worker_id, message, retry=not permanent,
                                      max_attempts=self.settings.max_attempts,
                                      backoff_seconds=self.settings.retry_backoff_seconds)

            try:
                status = self.with_retry("recording the failure", record)
            except Exception as db_exc:  # the lease lapses and the job is claimed again: not lost
                log.error("job %s: could not record its failure (%s); its lease will lapse", self.job_id, db_exc)
                return f"error (unrecorded): {message}"
            if status == JobStatus.FAILED:
                self._drop(self.checkpoint_prefix)
            return f"error ({status}): {message}"
        finally:
            self.done.set()
            beat.join(timeout=5)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _status(self) -> str | None:
        with self.sessions() as session:
            job = session.get(Job, self.job_id)
            return job.status if job else None

    def _run(self) -> str:
        from synth import Synthesizer

        with self.sessions() as session:
            job = session.get(Job, self.job_id)
            dataset = session.get(Dataset, job.dataset_id)
            session.expunge_all()
        params = job.params
        device = resolve_device(self.settings.device)
        frame = self._load(dataset)
        train, holdout = split_holdout(frame, self.settings.holdout_fraction, params["seed"])
        del frame

        resumed_from = None
        model = None
        if job.checkpoint_key:
            local = self.tmp / "resume"
            try:
                self.blobs.get_dir(job.checkpoint_key, local)
                model = Synthesizer.from_checkpoint(str(local), device=device)
                resumed_from = job.checkpoint_epoch
                log.info("job %s: resuming from the checkpoint of epoch %s", self.job_id, resumed_from)
            except Exception as exc:  # a checkpoint the store lost or cannot give back: train from the start
                log.warning("job %s: checkpoint %s unreadable (%s: %s); training from the start", self.job_id,
                            job.checkpoint_key, type(exc).__name__, exc)
        if model is None:
            # The job's target is also the engine's: its model teaches the generator rows whose target follows
            # from their other columns (synth.auxiliary).
            model = Synthesizer(device=device, column_kinds=params.get("column_kinds"), target=params.get("target"),
                                **engine_settings(params))
        # The epochs this fit runs (a job's default lets the table's size decide): progress counts against them.
        if not self.renew(device=device, resumed_from_epoch=resumed_from, epochs=model.planned_epochs(len(train))):
            raise LeaseLost
        started = time.monotonic()
        # unrecorded: epochs whose progress write did not reach the database (a restart, a fail-over); the next
        # write that does records them, so the job's loss curve has no hole where the database was away.
        state = {"first_epoch": resumed_from or 0, "last_epoch": resumed_from or 0, "unrecorded": [],
                 "checkpoint_key": job.checkpoint_key, "stopped_for_shutdown": False}

        def on_epoch(info) -> bool:  # noqa: ANN001 - synth.EpochInfo
            state["last_epoch"] = info.epoch
            losses = json_safe(dict(info.losses or {}))
            state["unrecorded"].append((info.epoch, losses))
            run_epochs = max(1, info.epoch - state["first_epoch"])
            per_epoch = (time.monotonic() - started) / run_epochs
            eta = per_epoch * max(0, info.epochs - info.epoch)
            if params.get("max_seconds"):
                eta = min(eta, max(0.0, params["max_seconds"] - float(getattr(info, "elapsed", 0.0) or 0.0)))
            spent = {} if getattr(info, "epsilon", None) is None else {"epsilon_spent": round(info.epsilon, 6)}
            written = self.write(epoch=info.epoch, losses=losses, eta_seconds=round(eta, 2),
                                 completed=state["unrecorded"], **spent)
            if written is False:
                return False
            if written:
                state["unrecorded"] = []
            shutting_down = self.stopping.is_set()
            every = max(1, self.settings.checkpoint_every)
            if shutting_down or (info.epoch % every == 0 and info.epoch < info.epochs):
                self._checkpoint(model, info.epoch, state)
            if shutting_down:
                state["stopped_for_shutdown"] = True
                return False
            return True

        model.fit(train, on_epoch=on_epoch, max_seconds=params.get("max_seconds"),
                  threads=torch_threads("worker", self.settings.worker_torch_threads))
        if self.lost.is_set():
            raise LeaseLost
        if state["stopped_for_shutdown"]:
            with self.job_session() as session:
                queue.release(session, self.job_id, self.worker_id)
            return f"released at epoch {state['last_epoch']} (worker shutting down)"
        train_seconds = time.monotonic() - started
        report = self._report(model, train, holdout, params["seed"], params.get("target"), params.get("sensitive"))
        return self._store(model, job, train, holdout, state["last_epoch"], state["unrecorded"], train_seconds,
                           report)

    def _load(self, dataset: Dataset) -> pd.DataFrame:
        local = self.blobs.local_path(dataset.blob_key)
        if local is None:
            local = self.tmp / "data.parquet"
            self.blobs.get_file(dataset.blob_key, local)
        return pd.read_parquet(local)

    def _checkpoint(self, model, epoch: int, state: dict) -> None:  # noqa: ANN001
        key = f"{self.checkpoint_prefix}/{uuid.uuid4().hex}"
        local = self.tmp / "checkpoint"
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir()
        model.save_checkpoint(str(local))
        self.blobs.put_dir(local, key)
        shutil.rmtree(local, ignore_errors=True)
        recorded = self.write(checkpoint_key=key, checkpoint_epoch=epoch)
        if recorded:
            self._drop(state["checkpoint_key"])
            state["checkpoint_key"] = key
        elif recorded is False:
            self._drop(key)
        # None: the database did not answer; the recorded checkpoint stays, and the sweep removes this one

    def _drop(self, key: str | None) -> None:
        if key:
            try:
                self.blobs.delete(key)
            except Exception:
                log.warning("job %s: could not delete blob %s", self.job_id, key)

    def _report(self, model, train: pd.DataFrame, holdout: pd.DataFrame | None, seed: int,  # noqa: ANN001
                target: str | None, sensitive: list[str] | None = None) -> dict:
        rows = min(len(train), max(10, self.settings.quality_rows))
        try:
            synthetic = model.sample(rows, seed=seed)
        except Exception as exc:  # a report that fails must not cost the model
            log.warning("job %s: sampling for the quality report failed: %s", self.job_id, exc)
            return {"error": f"quality report failed: {type(exc).__name__}: {exc}", "privacy": None}
        report = score_model(synthetic, train, holdout, seed, self.settings.quality_rows, target, sensitive)
        # Under differential privacy, the (epsilon, delta) the model was trained under (the report itself reads
        # real rows for its owner, and is not covered by it: DESIGN.md, "Differential privacy").
        report["differential_privacy"] = model.privacy_spent
        privacy = report.get("privacy") or {}
        if privacy.get("flagged"):
            log.warning("job %s: privacy flag: %s", self.job_id, "; ".join(privacy["reasons"]))
        return report

    def _store(self, model, job: Job, train: pd.DataFrame, holdout: pd.DataFrame | None,  # noqa: ANN001
               epochs_trained: int, unrecorded: list, train_seconds: float, report: dict) -> str:
        model_id = new_id()
        key = f"models/{model_id}"
        local = self.tmp / "model"
        local.mkdir()
        model.save(str(local))
        self.blobs.put_dir(local, key)
        row = Model(
            id=model_id, tenant_id=job.tenant_id, job_id=job.id, dataset_id=job.dataset_id, blob_key=key,
            schema=model.schema.to_dict(), params=job.params, train_rows=len(train),
            holdout_rows=0 if holdout is None else len(holdout), epochs_trained=epochs_trained,
            train_seconds=round(train_seconds, 3), report=report,
        )

        def finish() -> bool:
            with self.job_session() as session:
                return queue.finish(session, self.job_id, self.worker_id, row, completed=unrecorded)

        try:
            finished = self.with_retry("recording the model", finish)
        except Exception:
            self._drop(key)  # no row for it: never served; the job is retried once its lease lapses
            raise
        if not finished:
            self._drop(key)
            raise LeaseLost
        self._drop(self.checkpoint_prefix)
        return f"succeeded: model {model_id} ({epochs_trained} epochs, {train_seconds:.1f}s)"




def first_line(exc: BaseException) -> str:
    """An error's first line for a log, or its type where it has no message."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _transient(exc: BaseException) -> bool:
    """A database error worth retrying: the connection failed or was cut (a restart, a fail-over)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
