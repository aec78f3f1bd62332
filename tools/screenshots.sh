#!/usr/bin/env bash
# The README's screenshots of the autoencoder's interactive page (gallery/autoencoder.html), taken
# with headless Chromium (tools/ensure-browser.sh installs it): a few steps of the backward pass and
# W picked. Run after `make gallery`; writes docs/_static/interactive/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
page="$(pwd)/gallery/autoencoder.html"
out=docs/_static/interactive
mkdir -p "$out"
shot() {  # name, address tail
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --disable-background-networking --host-resolver-rules='MAP * ~NOTFOUND' \
    --window-size=1200,900 --screenshot="$out/$1.png" "file://$page#$2" >/dev/null 2>&1
  echo "$out/$1.png"
}
shot step-0 "step=0&fit"
shot step-4 "step=4"
shot step-6 "step=6"
shot step-7 "step=7"
shot picked-W "step=7&pick=n0"
