"""A short run of the load test (tests/load/load.py) in every CI run, so that the script keeps working: 10
sampling clients, an uploader and two pollers for 8 seconds against the session's API while a worker trains.
The recorded run (50 clients, 60 seconds, RELIABILITY.md) is `python -m tests.load.load`, outside CI."""

from __future__ import annotations

import asyncio

from tests.conftest import TINY, wait_for
from tests.load.load import run_load


def test_a_short_load_run_has_no_errors(api, trained, workers):  # noqa: ANN001
    import httpx

    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {trained['key']}"}, timeout=60) as owner:
        job = owner.post("/v1/jobs", json={"dataset_id": trained["dataset_id"],
                                           "params": {**TINY, "epochs": 5000}}).json()
        workers.start("under-load")
        wait_for(lambda: owner.get(f"/v1/jobs/{job['id']}").json()["status"] == "running", 120, "training")
        result = asyncio.run(run_load(api, trained["key"], job["id"], clients=10, seconds=8, rows=100,
                                      uploaders=1, pollers=2))
        assert owner.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    assert result["all"]["errors"] == 0, result
    assert result["sample"]["ok"] >= 20 and result["upload"]["ok"] >= 1 and result["poll"]["ok"] >= 4, result
    assert result["training_job"]["last"][0] == "running"
