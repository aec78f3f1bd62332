#!/usr/bin/env bash
# Install the system packages graphviz_bp needs (Graphviz's `dot` and the DejaVu fonts) when missing.
# Idempotent: does nothing when both are present. Debian/Ubuntu only; elsewhere prints what to install.
set -euo pipefail

font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ ! -f "$font" ] && ! { command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q 'DejaVu Sans'; }; then
  missing+=(fonts-dejavu-core)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "graphviz_bp needs: ${missing[*]} (Graphviz's 'dot' and the DejaVu fonts)." >&2
  echo "This is not a Debian-like system: install them with your package manager, then re-run." >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "Need root to install ${missing[*]}: run as root or install sudo." >&2
  exit 1
fi

echo "Installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v dot >/dev/null 2>&1 || { echo "'dot' still missing after installing graphviz" >&2; exit 1; }
