#!/usr/bin/env bash
# Make the DP peer's own venv for the benchmark: .venv-dp with smartnoise-synth (git-ignored).
#
# smartnoise-synth (MIT) brings opacus and its own pins. It lives in a venv of its own so that it can neither
# disturb the project's pinned packages nor be imported by synth/, app/ or worker/; only bench/peer_smartnoise.py
# runs under it. torch==2.13.0 goes in first and exactly: that pin takes the CPU build from this machine's disk,
# and smartnoise's looser torch requirement is then already met (a looser pin could pull gigabytes of CUDA).
# MST needs private-pgm (`mbi`), which is not on PyPI: the child reports MST as unavailable when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV_DP:-.venv-dp}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet "torch==2.13.0"
"$VENV/bin/pip" install --quiet "smartnoise-synth==1.0.8" "psutil>=5.9" pandas packaging
# Pulled in by a dependency's pins and never used here: gigabytes we do not need.
for extra in torchvision torchaudio; do
    if "$VENV/bin/pip" show --quiet "$extra" >/dev/null 2>&1; then
        "$VENV/bin/pip" uninstall --yes --quiet "$extra"
    fi
done
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md

import torch

print("DP peer ready: smartnoise-synth", md.version("smartnoise-synth"), "torch", torch.__version__)
try:
    import mbi  # noqa: F401  (private-pgm, which MST needs)
    print("MST: available")
except ImportError:
    print("MST: unavailable (private-pgm is not on PyPI); the benchmark records it as such")
PY
