#!/usr/bin/env bash
# Installs every Debian package bnlab needs to build, test and fetch data. Idempotent; root or sudo.
set -euo pipefail

packages=(g++ cmake make pkg-config
  libxtensor-dev libxtensor-blas-dev libopenblas-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev catch2 zlib1g-dev)

# Extra groups: "data" adds Fashion-MNIST, "plot" matplotlib, "torch" PyTorch for goldens/benchmarks,
# "slurm" a local Slurm for the cluster test.
for group in "$@"; do
  case "$group" in
    data) packages+=(dataset-fashion-mnist) ;;
    plot) packages+=(python3-matplotlib python3-numpy) ;;
    torch) packages+=(python3-torch python3-numpy) ;;
    slurm) packages+=(slurm-wlm munge) ;;
    *) echo "setup.sh: unknown group '$group' (known: data plot torch slurm)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
