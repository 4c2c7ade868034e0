"""The sweep that puts the blob store and the database back in agreement after a crash, on a real Postgres
database and a real blob folder: what it removes, what it keeps (young writes, anything when the two look
mismatched), and `synthd sweep` on the command line. The crash itself is in test_faults.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import Dataset, Job, Model, Tenant, new_id
from app.storage import BlobStore
from app.sweep import sweep
from tests.conftest import ROOT

HOUR = 3600.0


def _age(path: Path, seconds: float) -> None:
    """Make a file, or a folder and everything in it, `seconds` old."""
    stamp = time.time() - seconds
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (stamp, stamp))


def _file(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def world(own_service):  # noqa: ANN001, ANN201
    """A tenant with one dataset (blob present), one running job with a checkpoint, one finished model."""
    service = own_service("sweep")
    blobs = service.state / "blobs"
    with service.db() as session:
        tenant = Tenant(name="t")
        session.add(tenant)
        session.flush()
        dataset = Dataset(id=new_id(), tenant_id=tenant.id, name="d", rows=1, n_columns=1, size_bytes=1,
                          encoding="utf-8", delimiter=",", column_kinds={}, schema={"columns": []}, blob_key="")
        dataset.blob_key = f"datasets/{dataset.id}.parquet"
        session.add(dataset)
        session.flush()
        running = Job(tenant_id=tenant.id, dataset_id=dataset.id, params={}, epochs=5, status="running")
        done = Job(tenant_id=tenant.id, dataset_id=dataset.id, params={}, epochs=5, status="succeeded")
        session.add_all([running, done])
        session.flush()
        running.checkpoint_key = f"checkpoints/{running.id}/current"
        model = Model(tenant_id=tenant.id, job_id=done.id, dataset_id=dataset.id, blob_key="", schema={}, params={},
                      train_rows=1, holdout_rows=0, epochs_trained=5, train_seconds=1.0)
        model.id = new_id()
        model.blob_key = f"models/{model.id}"
        session.add(model)
        session.commit()
        ids = {"dataset": dataset.id, "running": running.id, "done": done.id, "model": model.id}
    _file(blobs / f"datasets/{ids['dataset']}.parquet")
    _file(blobs / f"models/{ids['model']}/model.json")
    _file(blobs / f"checkpoints/{ids['running']}/current/state.json")
    service.blobs = BlobStore(str(blobs))
    service.ids = ids
    return service


def _run(service, grace: float = HOUR, **kwargs) -> object:  # noqa: ANN001, ANN003
    return sweep(service.db, service.blobs, service.state, grace, **kwargs)


def test_old_orphans_go_young_ones_and_everything_with_a_row_stay(world):  # noqa: ANN001
    blobs, ids = world.state / "blobs", world.ids
    old = {
        "dataset": _file(blobs / f"datasets/{uuid.uuid4()}.parquet"),
        "model": _file(blobs / f"models/{uuid.uuid4()}/model.safetensors").parent,
        "stale checkpoint of a running job": _file(blobs / f"checkpoints/{ids['running']}/older/s.json").parent,
        "checkpoint of a finished job": _file(blobs / f"checkpoints/{ids['done']}/last/s.json").parent.parent,
        "checkpoint of a job that is gone": _file(blobs / f"checkpoints/{uuid.uuid4()}/x/s.json").parent.parent,
        "temp upload": _file(world.state / "tmp" / "upload-abc123" / "upload.csv").parent,
    }
    young = {
        "dataset": _file(blobs / f"datasets/{uuid.uuid4()}.parquet"),
        "model": _file(blobs / f"models/{uuid.uuid4()}/model.json").parent,
        "temp upload": _file(world.state / "tmp" / "upload-inflight" / "upload.csv").parent,
    }
    foreign = _file(blobs / "datasets" / "README.txt")  # not a name synthd writes: never touched
    for path in old.values():
        _age(path, 2 * HOUR)
    keep = [blobs / f"datasets/{ids['dataset']}.parquet", blobs / f"models/{ids['model']}",
            blobs / f"checkpoints/{ids['running']}/current"]
    for path in keep:
        _age(path, 5 * HOUR)  # old, but they have their rows

    report = _run(world)
    for what, path in old.items():
        assert not path.exists(), what
    for what, path in young.items():
        assert path.exists(), what
    for path in [*keep, foreign]:
        assert path.exists(), path
    assert len(report.dataset_blobs) == 1 and len(report.model_blobs) == 1 and len(report.checkpoint_blobs) == 3
    assert report.temp_uploads == ["upload-abc123"]
    assert report.datasets_missing_blob == [] and report.models_missing_blob == [] and report.skipped == []


def test_a_dry_run_deletes_nothing(world):  # noqa: ANN001
    orphan = _file(world.state / "blobs" / f"datasets/{uuid.uuid4()}.parquet")
    _age(orphan, 2 * HOUR)
    report = _run(world, dry_run=True)
    assert report.dataset_blobs == [f"datasets/{orphan.name}"] and orphan.exists()


def test_rows_whose_blob_is_lost_are_reported_and_deleted_only_when_asked(world):  # noqa: ANN001
    blobs, ids = world.state / "blobs", world.ids
    (blobs / f"models/{ids['model']}/model.json").unlink()
    (blobs / f"models/{ids['model']}").rmdir()
    report = _run(world)
    assert report.models_missing_blob == [ids["model"]] and report.deleted_rows == []
    with world.db() as session:
        assert session.get(Model, ids["model"]) is not None
    report = _run(world, delete_missing_rows=True)
    assert report.deleted_rows == [f"models/{ids['model']}"]
    with world.db() as session:
        assert session.get(Model, ids["model"]) is None
        assert session.get(Dataset, ids["dataset"]) is not None  # its dataset still has its blob

    (blobs / f"datasets/{ids['dataset']}.parquet").unlink()
    _file(blobs / f"datasets/{uuid.uuid4()}.parquet")  # the store is not empty, it just lacks this one...
    _file(blobs / f"models/{uuid.uuid4()}/model.json")
    with world.db() as session:  # ...and another dataset still has its blob
        other = Dataset(id=new_id(), tenant_id=session.scalar(select(Tenant.id)), name="o", rows=1, n_columns=1,
                        size_bytes=1, encoding="utf-8", delimiter=",", column_kinds={}, schema={}, blob_key="")
        other.blob_key = f"datasets/{other.id}.parquet"
        session.add(other)
        session.commit()
    _file(blobs / other.blob_key)
    report = _run(world, delete_missing_rows=True)
    assert report.datasets_missing_blob == [ids["dataset"]]
    with world.db() as session:  # the dataset and, through it, its jobs are gone
        assert session.get(Dataset, ids["dataset"]) is None
        assert session.scalars(select(Job).where(Job.dataset_id == ids["dataset"])).all() == []
        assert session.get(Dataset, other.id) is not None


def test_a_store_that_has_none_of_the_rows_blobs_touches_no_row(world):  # noqa: ANN001
    """SYNTHD_BLOB_URL pointed at the wrong (or an empty) store: every row looks lost. Nothing is deleted."""
    world.blobs = BlobStore(str(world.root / "some-other-store"))
    report = _run(world, delete_missing_rows=True)
    assert report.deleted_rows == [] and report.datasets_missing_blob == []
    assert any("SYNTHD_BLOB_URL" in line for line in report.skipped)
    with world.db() as session:
        assert session.get(Dataset, world.ids["dataset"]) is not None


def test_an_empty_database_deletes_no_blob(own_service):  # noqa: ANN001
    """DATABASE_URL pointed at a fresh database next to a store in use: every blob looks orphaned. None goes."""
    service = own_service("sweep_empty")
    blob = _file(service.state / "blobs" / f"datasets/{uuid.uuid4()}.parquet")
    _age(blob, 2 * HOUR)
    report = sweep(service.db, BlobStore(str(service.state / "blobs")), service.state, HOUR)
    assert blob.exists() and report.dataset_blobs == []
    assert any("DATABASE_URL" in line for line in report.skipped)


def test_synthd_sweep_on_the_command_line(world):  # noqa: ANN001
    orphan = _file(world.state / "blobs" / f"models/{uuid.uuid4()}/model.json").parent
    command = [sys.executable, "-m", "synthd", "sweep", "--grace", "0"]
    dry = subprocess.run([*command, "--dry-run"], cwd=ROOT, env=world.env, capture_output=True, text=True,
                         timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["model_blobs"] == [f"models/{orphan.name}"] and orphan.exists()
    real = subprocess.run(command, cwd=ROOT, env=world.env, capture_output=True, text=True, timeout=120)
    assert real.returncode == 0 and not orphan.exists()
    assert (world.state / "blobs" / f"models/{world.ids['model']}").exists()
