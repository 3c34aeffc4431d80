#!/usr/bin/env bash
# Create the Plugboard 0.9 venv that bench/chain.py compares against.
#   bench/setup-peer.sh [VENV_DIR]     (default: .venv-plugboard in the repository root)
# Plugboard 0.9 needs Python >= 3.12; pydantic 2.13.3 because newer ones break its RayProcess.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv-plugboard}"

python312="$(command -v python3.12 || true)"
# A pyenv shim is on PATH even where it cannot run 3.12 here: keep only one that runs.
if [[ -n "$python312" ]] && ! "$python312" -c 'import sys' >/dev/null 2>&1; then
  python312=""
fi
if [[ -z "$python312" ]] && command -v pyenv >/dev/null 2>&1; then
  version="$(pyenv versions --bare | grep -E '^3\.12(\.|$)' | sort -V | tail -n 1 || true)"
  [[ -n "$version" ]] && python312="$(pyenv root)/versions/$version/bin/python3.12"
fi
if [[ -z "$python312" ]]; then
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    [[ -x "$candidate" ]] && python312="$candidate"
  done
fi
if [[ -z "$python312" || ! -x "$python312" ]]; then
  echo "setup-peer: python3.12 not found on PATH or under pyenv; install Python 3.12 first" >&2
  exit 1
fi

echo "setup-peer: creating $venv with $python312"
"$python312" -m venv "$venv"
"$venv/bin/pip" install --quiet 'plugboard[ray]==0.9.0' 'pydantic==2.13.3'
echo "setup-peer: done; bench/chain.py finds it there (or pass --peer-venv / set TAPEFLOW_PEER_VENV)"
