#!/usr/bin/env bash
# Create the virtual environment $2 with interpreter $1 unless it already works.
# On Debian, `python3 -m venv` needs the python3-venv package: install it when missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' 2>/dev/null && exit 0

command -v "$python" >/dev/null 2>&1 || { echo "No '$python' found: install Python >= 3.10." >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "graphviz_bp needs Python >= 3.10; '$python' is $("$python" --version 2>&1)." >&2; exit 1; }

rm -rf "$venv"
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  if command -v apt-get >/dev/null 2>&1; then
    ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "Installing python${ver}-venv (needed for a virtual environment)" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "python${ver}-venv" >/dev/null \
      || "${sudo[@]}" apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  else
    echo "'$python -m venv' failed: install your system's venv support for Python." >&2
    exit 1
  fi
fi
