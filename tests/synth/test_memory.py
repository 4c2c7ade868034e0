import os
import subprocess
import sys

import pytest

from synth import synthesizer

# A fresh interpreter frees a 24 MiB array and reports how much of it stayed resident.
_PROBE = """
import sys
import numpy as np
from synth.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
a = np.ones(3 << 20)  # 24 MiB, touched
before = resident()
del a
print(kept, (before - resident()) >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.parametrize(("mode", "kept", "released"), [("default", "None", True), ("keep", "True", False)])
def test_freed_blocks_stay_in_the_process_once_asked(mode, kept, released):
    env = {k: v for k, v in os.environ.items() if "MALLOC" not in k and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env, check=True)
    answer, freed_mib = out.stdout.split()
    assert answer == kept
    assert (int(freed_mib) >= 20) is released


def test_a_threshold_the_user_set_is_left_alone():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "1000000"}
    code = "from synth.memory import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_sampling_asks_for_it(adult_model, monkeypatch):
    calls = []
    monkeypatch.setattr(synthesizer, "keep_freed_memory", lambda: calls.append(1))
    adult_model.sample(50, seed=0)
    assert calls == [1]
