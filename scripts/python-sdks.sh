#!/usr/bin/env bash
# The official Anthropic and OpenAI Python SDKs, pinned, in a venv the whole-system tests use
# (tests/tests/python_sdks.rs). Idempotent; prints the interpreter's path.
set -euo pipefail
VENV=${TOLLGATE_PYENV:-${HOME:-/tmp}/.cache/tollgate-pyenv}
REQS="anthropic==2.12.0 openai==3.54.0 schemathesis==4.32.5"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "python-sdks: installing python3 and venv" >&2
  if command -v sudo >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq python3 python3-venv >&2
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import anthropic, openai' 2>/dev/null \
  || [ "$(cat "$VENV/.reqs" 2>/dev/null)" != "$REQS" ]; then
  python3 -m venv "$VENV" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $REQS >&2
  echo "$REQS" >"$VENV/.reqs"
fi
echo "$VENV/bin/python"
