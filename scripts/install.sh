#!/usr/bin/env bash
# Creates or updates the two virtual environments, each only when its lock changed:
#   .venv       the app (uv.lock, installed with uv)
#   .venv-rasa  Rasa 3.6 (nlu/requirements-rasa.lock; see scripts/install-rasa.sh)
# and, when missing, Debian's Chromium and CJK fonts for the browser tests (scripts/install-browser.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
uv_version=0.13.8

stamp_ok() { [ -f "$1" ] && sha256sum --quiet --check "$1" >/dev/null 2>&1; }

if ! stamp_ok .venv/.installed; then
  echo "[gridtalk] installing the app environment (.venv) from uv.lock"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  [ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet "uv==$uv_version" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2 || true)
  .venv/bin/uv sync --frozen --quiet
  sha256sum uv.lock pyproject.toml > .venv/.installed
fi

if ! stamp_ok .venv-rasa/.installed; then
  bash scripts/install-rasa.sh
fi

bash scripts/install-browser.sh
