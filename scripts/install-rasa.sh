#!/usr/bin/env bash
# Builds .venv-rasa: Rasa Open Source 3.6.21 on this machine's Python 3.11.
# Rasa declares Python < 3.11 and its numpy/scipy/tensorflow pins carry `python_version < "3.11"` markers,
# so a plain `pip install rasa` fails or picks releases that need 3.12. We install the full resolved set
# (nlu/requirements-rasa.lock) with --no-deps, then rasa itself with --ignore-requires-python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-rasa
lock=nlu/requirements-rasa.lock
py=${PYTHON:-python3}
# pip's configuration on these machines names local mirrors that may not exist; drop that noise only.
quiet_pip() { grep -v 'is ignored: it is neither a file nor a directory' || true; }

echo "[gridtalk] building $venv (Rasa 3.6.21, ~2.8 GB, a few minutes on first install)"
rm -rf "$venv" "$venv.partial"
"$py" -m venv "$venv"
# uv installs the 150-package set several times faster than pip; it comes from the app venv.
if [ -x .venv/bin/uv ]; then
  .venv/bin/uv pip install --quiet --python "$venv/bin/python" --no-deps -r "$lock"
else
  "$venv/bin/python" -m pip install --quiet --no-deps -r "$lock" 2> >(quiet_pip >&2)
fi
"$venv/bin/python" -m pip install --quiet --no-deps --ignore-requires-python rasa-sdk==3.6.2 rasa==3.6.21 \
  2> >(quiet_pip >&2)
TF_CPP_MIN_LOG_LEVEL=3 RASA_TELEMETRY_ENABLED=false "$venv/bin/python" -c "import rasa, rasa.nlu.tokenizers.jieba_tokenizer; print('[gridtalk] rasa', rasa.__version__, 'installed')"
sha256sum "$lock" scripts/install-rasa.sh > "$venv/.installed"
