"""The worker loop: claim a job, train it (worker.training), repeat; stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import threading
import uuid

from app import queue
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.threads import torch_threads
from app.storage import BlobStore
from worker.training import Trainer, WorkerContext, first_line

log = logging.getLogger("synthd.worker")


class Worker:
    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        self.settings = settings
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.engine = make_engine(settings, "worker", self.id)
        if settings.fault_freeze_at:
            freeze_inside_checkpoint_write(self.engine, int(settings.fault_freeze_at.partition(":")[2] or 1))
        self.sessions = make_sessionmaker(self.engine)
        self.blobs = BlobStore.from_settings(settings)
        self.stopping = threading.Event()

    def install_signal_handlers(self) -> None:
        def _stop(signum, _frame):  # noqa: ANN001
            log.info("worker %s: signal %s, stopping after the current epoch", self.id, signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def context(self) -> WorkerContext:
        return WorkerContext(self.id, self.settings, self.sessions, self.blobs, self.stopping)

    def claim(self) -> queue.Claim | None:
        with self.sessions() as session:
            return queue.claim(session, self.id, self.settings.lease_seconds, self.settings.max_attempts)

    def run(self, once: bool = False, max_jobs: int | None = None) -> int:
        """Work until stopped (or, with `once`, until the queue is empty). Returns the number of jobs run."""
        threads = torch_threads("worker", self.settings.worker_torch_threads)
        if threads != "auto":
            import torch

            torch.set_num_threads(threads)
        done = 0
        log.info("worker %s: waiting for jobs", self.id)
        failures = 0
        while not self.stopping.is_set():
            try:
                claimed = self.claim()
            except Exception as exc:  # the database is down or restarting: wait, then look again
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("worker %s: cannot reach the queue (%s); retrying in %.1fs", self.id,
                            first_line(exc), delay)
                self.stopping.wait(delay)
                continue
            if failures:
                log.info("worker %s: the queue answers again", self.id)
                failures = 0
            if claimed is None:
                if once:
                    break
                self.stopping.wait(self.settings.poll_seconds)
                continue
            log.info("worker %s: claimed job %s (attempt %d)", self.id, claimed.job_id, claimed.attempt)
            try:
                outcome = Trainer(self.context(), claimed).run()
            except Exception:  # never lose the worker to one job: its lease lapses and it is retried
                log.exception("worker %s: job %s broke the trainer", self.id, claimed.job_id)
                outcome = "crashed the trainer"
            log.info("worker %s: job %s %s", self.id, claimed.job_id, outcome)
            done += 1
            if max_jobs is not None and done >= max_jobs:
                break
        self.engine.dispose()
        return done


def freeze_inside_checkpoint_write(engine, nth: int) -> None:  # noqa: ANN001
    """Tests only (SYNTHD_FAULT_FREEZE_AT=checkpoint_write:N): stop this process with SIGSTOP, once, right after
    the statement that records its Nth checkpoint and before its COMMIT, so that the session sits idle inside a
    transaction holding the job's row lock, as a paused VM or a swap storm can leave it."""
    from sqlalchemy import event

    seen = itertools.count(1)

    @event.listens_for(engine, "after_cursor_execute")
    def _freeze(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        writes_checkpoint = statement.lstrip().upper().startswith("UPDATE JOBS") and "checkpoint_key" in statement
        if writes_checkpoint and next(seen) == nth:
            log.warning("worker: freezing inside the checkpoint's transaction (SYNTHD_FAULT_FREEZE_AT)")
            os.kill(os.getpid(), signal.SIGSTOP)


def main(settings: Settings | None = None, *, once: bool = False, max_jobs: int | None = None,
         worker_id: str | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings or Settings()
    if settings.auto_migrate:
        from app.core.migrate import upgrade

        upgrade(settings)
    worker = Worker(settings, worker_id)
    worker.install_signal_handlers()
    worker.run(once=once, max_jobs=max_jobs)
    return 0
