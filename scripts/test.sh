#!/usr/bin/env bash
# Sets up a fresh machine, builds, and runs the whole test suite through ctest (README's second command; CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh data plot slurm
bash scripts/fetch_data.sh fashion-mnist
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j"$(nproc 2>/dev/null || echo 2)"
