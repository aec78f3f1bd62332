#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver when missing: the tests that drive a real page need them
# (`make test` runs this; `make gallery` does not). Idempotent: does nothing when both are present.
# The paths are the ones tests/browser.py uses: /usr/bin/chromium and /usr/bin/chromedriver, or
# GRAPHVIZ_BP_CHROMIUM and GRAPHVIZ_BP_CHROMEDRIVER where set. Debian/Ubuntu only; elsewhere prints what to do.
set -euo pipefail

chromium=${GRAPHVIZ_BP_CHROMIUM:-/usr/bin/chromium}
chromedriver=${GRAPHVIZ_BP_CHROMEDRIVER:-/usr/bin/chromedriver}
missing=()
[ -x "$chromium" ] || missing+=(chromium)
[ -x "$chromedriver" ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need Chromium and its chromedriver (missing: ${missing[*]})." >&2
  echo "This is not a Debian-like system: install them with your package manager, then set" >&2
  echo "GRAPHVIZ_BP_CHROMIUM and GRAPHVIZ_BP_CHROMEDRIVER to their paths and re-run." >&2
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

# Both together, so that apt keeps the browser and its driver at the same version.
echo "Installing system packages: chromium chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
for path in "$chromium" "$chromedriver"; do
  [ -x "$path" ] || { echo "'$path' still missing after installing chromium and chromium-driver" >&2; exit 1; }
done
