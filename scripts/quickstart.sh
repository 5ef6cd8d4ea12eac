#!/usr/bin/env bash
# Sets up a fresh machine, fetches Fashion-MNIST, builds, and runs the default experiment (README's first command).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh data
bash scripts/fetch_data.sh fashion-mnist
bash scripts/build.sh
./build/bnlab run configs/quickstart.json --out runs/quickstart "$@"
