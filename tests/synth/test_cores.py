"""Training threads that make room for the machine's other work (synth.cores)."""

from __future__ import annotations

import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from synth import SynthError, Synthesizer
from synth import cores as cores_module
from synth.cores import CHECK_SECONDS, SharedCores


def test_a_busy_neighbour_takes_a_thread_and_gives_it_back_when_it_stops():
    before = torch.get_num_threads()
    shared = SharedCores(max_threads=4)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(CHECK_SECONDS * 2.5)
        assert shared.update() <= 3 and shared.others >= 0.7, shared.others
        assert torch.get_num_threads() == shared.threads
    finally:
        busy.kill()
        busy.wait()
        torch.set_num_threads(before)


@pytest.mark.parametrize(("others", "threads"), [(0.0, 4), (0.6, 4), (0.75, 3), (1.0, 3), (1.8, 2), (3.5, 1),
                                                 (9.0, 1)])
def test_threads_step_aside_for_each_core_others_use(monkeypatch, others, threads):  # noqa: ANN001
    before = torch.get_num_threads()
    readings = iter([(0.0, 100.0, 10.0), (1.0, 101.0 + others, 11.0)])  # (wall, machine busy, own CPU) seconds
    monkeypatch.setattr(SharedCores, "_read", staticmethod(lambda: next(readings)))
    try:
        shared = SharedCores(max_threads=4)
        assert shared.update() == threads and shared.others == pytest.approx(others)
    finally:
        torch.set_num_threads(before)


def test_the_load_is_not_reread_within_the_interval_nor_without_proc_stat(monkeypatch):  # noqa: ANN001
    before = torch.get_num_threads()
    readings = iter([(0.0, 100.0, 10.0), (CHECK_SECONDS / 2, 103.0, 10.0), (2.0, None, 11.0)])
    monkeypatch.setattr(SharedCores, "_read", staticmethod(lambda: next(readings)))
    try:
        shared = SharedCores(max_threads=2)
        assert shared.update() == 2  # too soon: a busy reading inside the interval changes nothing
        assert shared.update() == 2  # no /proc/stat: every core
    finally:
        torch.set_num_threads(before)


def test_proc_stat_is_read_where_there_is_one():
    assert cores_module._busy_seconds() is None or cores_module._busy_seconds() > 0


def test_auto_threads_train_and_leave_the_thread_count_as_it_was(adult_small):
    before = torch.get_num_threads()
    model = Synthesizer(epochs=1, batch_size=200, seed=0).fit(adult_small.iloc[:400], threads="auto")
    assert model.is_fitted and torch.get_num_threads() == before
    with pytest.raises(SynthError, match="threads"):
        Synthesizer(epochs=1).fit(pd.DataFrame({"a": range(20)}), threads=0)
