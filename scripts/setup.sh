#!/usr/bin/env bash
# Set up evalsuite in ./.venv.
#   scripts/setup.sh offline   the package and the offline reference systems (quickstart)
#   scripts/setup.sh test      the same plus the test tools
# TORCH_SPEC chooses the torch build (default torch==2.13.0, the CPU build these machines
# keep on disk); e.g. TORCH_SPEC=torch for your platform's default (CUDA on Linux).
set -euo pipefail
extra="${1:-offline}"
case "$extra" in offline|test) ;; *) echo "usage: scripts/setup.sh offline|test" >&2; exit 2;; esac
cd "$(dirname "$0")/.."

# Apertium, the rule-based MT system the quickstart calls through the cmd backend.
if ! command -v apertium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
    { $SUDO apt-get install -y -q apertium apertium-eng-spa >/dev/null 2>&1 ||
      { $SUDO apt-get update -q >/dev/null 2>&1 &&
        $SUDO apt-get install -y -q apertium apertium-eng-spa >/dev/null 2>&1; }; } ||
      echo "note: could not install apertium; the translation quickstart will be skipped" >&2
  else
    echo "note: no apt-get; install apertium + apertium-eng-spa to run the translation quickstart" >&2
  fi
fi

# Chromium, for the report's browser test (tests/test_report_browser.py skips without it).
if [ "$extra" = test ] && ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
    { $SUDO apt-get install -y -q chromium >/dev/null 2>&1 ||
      { $SUDO apt-get update -q >/dev/null 2>&1 &&
        $SUDO apt-get install -y -q chromium >/dev/null 2>&1; }; } ||
      echo "note: could not install chromium; the report's browser test will be skipped" >&2
  else
    echo "note: no apt-get; install chromium to run the report's browser test" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
.venv/bin/python -m pip install -q -e ".[$extra]"
echo "evalsuite installed in .venv ($extra)" >&2
