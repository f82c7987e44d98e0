#!/usr/bin/env bash
# Create the separate virtual environment the Xinference tests start a real server from.
# Xinference pins old versions of click, fastapi and others, so it must not share the
# project's environment. Re-running is cheap: a finished environment is left as it is.
# torch is pinned to the CPU wheel; without the pin pip pulls a multi-GB CUDA build.
set -euo pipefail

VENV="${XINFERENCE_VENV:-.xinference-venv}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/xinference-local" ] && [ -f "$VENV/.ready" ]; then
    echo "xinference environment ready in $VENV"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "torch==2.13.0" xinference xllamacpp
touch "$VENV/.ready"
echo "xinference environment ready in $VENV"
