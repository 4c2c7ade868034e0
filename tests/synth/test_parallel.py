import threading
import time

import pandas as pd
import pytest
import torch

import synth.synthesizer as engine
from synth.parallel import run_in_order


def test_results_come_in_order_and_tasks_are_made_from_the_consumers_latest_state():
    consumed = 0
    made = []

    def tasks():
        for k in range(8):
            made.append((k, consumed))  # what the consumer had taken when task k was made
            yield lambda k=k: time.sleep(0.02 * (k % 3 == 0)) or k  # some finish before those ahead of them

    got = []
    for result in run_in_order(tasks(), workers=3):
        got.append(result)
        consumed += 1
    assert got == list(range(8))
    ahead = min(3, torch.get_num_threads())  # no more workers than torch has threads
    assert made == [(k, max(0, k - ahead + 1)) for k in range(8)]


def test_one_thread_means_one_worker_in_the_callers_thread(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    names = list(run_in_order(iter([lambda: threading.current_thread().name] * 3), workers=2))
    assert names == [threading.current_thread().name] * 3


def test_an_error_in_a_task_reaches_the_consumer():
    def tasks():
        yield lambda: 1
        yield lambda: 1 / 0
        yield lambda: 3

    results = run_in_order(tasks(), workers=2)
    assert next(results) == 1
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_a_consumer_that_stops_early_stops_the_workers():
    started = []

    def tasks():
        for k in range(100):
            yield lambda k=k: started.append(k) or time.sleep(0.01)

    results = run_in_order(tasks(), workers=2)
    next(results)
    results.close()
    assert len(started) <= 3  # the one taken and those already in flight, none after
    assert not [t for t in threading.enumerate() if t.name.startswith("synth-sample")]


def test_workers_get_their_share_of_the_cores_and_leave_every_other_thread_alone():
    before = torch.get_num_threads()
    shares = list(run_in_order(iter([torch.get_num_threads] * 4), workers=2))
    assert shares == [max(1, before // 2)] * 4
    assert torch.get_num_threads() == before
    fresh = []
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert fresh == [before]  # the default that new threads take is unchanged


@pytest.mark.parametrize("conditions", [None, {"sex": "Female", "age": {"min": 30, "max": 45}}])
def test_rows_do_not_depend_on_how_many_workers_sample_them(adult_model, conditions):
    """Where torch has one thread, sampling runs one worker (run_in_order); the rows, and the sizes of the
    conditioned tasks that make them, are those of two."""
    n = 2 * engine.GEN_BATCH + 500  # enough for two workers
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))
    try:
        parallel = adult_model.sample(n, seed=21, conditions=conditions)
        torch.set_num_threads(1)
        alone = adult_model.sample(n, seed=21, conditions=conditions)
    finally:
        torch.set_num_threads(threads)
    pd.testing.assert_frame_equal(alone, parallel)
