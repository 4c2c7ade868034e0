#!/usr/bin/env bash
# Make the second peer's own venv for the benchmark: .venv-mostlyai with mostlyai-engine 2.7.3 (git-ignored).
#
# mostlyai-engine is Apache-2.0; it lives in a venv of its own so that its many dependencies (transformers,
# opacus, ...) can neither disturb the project's pinned packages nor be imported by synth/, app/ or worker/.
# torch==2.13.0 first takes the same CPU build as the project's .venv; torchvision, which it pulls in, breaks
# beside that torch and is not needed for tables, so it goes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV_MOSTLYAI:-.venv-mostlyai}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet "torch==2.13.0"
"$VENV/bin/pip" install --quiet "mostlyai-engine==2.7.3" "psutil>=5.9"
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio || true
"$VENV/bin/python" -c "import mostlyai.engine as e, torch; print('peer ready: mostlyai-engine', e.__version__, 'torch', torch.__version__)"
