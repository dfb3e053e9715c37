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

# Apertium, the rule-based MT system the quickstart (eng-spa) and the generalisation example
# (eng-cat, en-gl) call through the cmd backend.
apertium_pairs() { apertium -l 2>/dev/null | tr -s ' \t' '\n'; }
if ! command -v apertium >/dev/null 2>&1 ||
   [ "$(apertium_pairs | grep -cxE 'eng-spa|eng-cat|en-gl')" -lt 3 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
    { $SUDO apt-get install -y -q apertium apertium-eng-spa apertium-eng-cat apertium-en-gl >/dev/null 2>&1 ||
      { $SUDO apt-get update -q >/dev/null 2>&1 &&
        $SUDO apt-get install -y -q apertium apertium-eng-spa apertium-eng-cat apertium-en-gl >/dev/null 2>&1; }; } ||
      echo "note: could not install apertium; its translation records will be skipped" >&2
  else
    echo "note: no apt-get; install apertium, apertium-eng-spa, apertium-eng-cat and apertium-en-gl for the translation examples" >&2
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
