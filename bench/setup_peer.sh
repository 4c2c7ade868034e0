#!/usr/bin/env bash
# Make the peer's own venv for the benchmark: .venv-bench with ctgan (git-ignored).
#
# ctgan, sdv, rdt, copulas and sdmetrics are under the Business Source License. They are installed here
# only to be measured against, in a venv of their own so that they can neither disturb the project's
# pinned packages nor be imported by synth/, app/ or worker/. The pins match pyproject.toml's `bench` extra;
# torch==2.13.0 exactly takes the same CPU build as the project's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV_BENCH:-.venv-bench}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet "torch==2.13.0" "ctgan==0.12.1" "psutil>=5.9" pandas
"$VENV/bin/python" -c "import ctgan, torch; print('peer ready: ctgan', ctgan.__version__, 'torch', torch.__version__)"
