#!/usr/bin/env bash
# Regenerates the README's pictures of the operator console, docs/images/console-overview.png
# and docs/images/console-channel.png: dev mode (debug build) on a fresh database with a few
# channels in the states an operator meets, photographed in headless Chromium.
#
#   scripts/console-screenshots.sh
#
# Needs what scripts/test.sh installs: Debian's /usr/bin/chromium and .venv with Playwright.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing: run scripts/test.sh once (it installs it)" >&2; exit 1; }
[ -x .venv/bin/python ] || { echo ".venv is missing: run scripts/test.sh once (it creates it)" >&2; exit 1; }
cargo test --workspace --no-run --quiet
cd tests/browser && exec ../../.venv/bin/python readme_screenshots.py
