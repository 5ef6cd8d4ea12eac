#!/usr/bin/env bash
# Runs `bnlab bench` and scripts/bench_torch.py on the same cases and prints bnlab, PyTorch and their ratio
# side by side. Each case runs in its own process, so peak memory is that case's alone.
#   scripts/bench_compare.sh [--threads "1 2"] [--batch 128] [--models "mlp cnn cifar-cnn"]
#                            [--norms "none batch"] [--rounds 5] [--steps 10] [--bnlab PATH]
#                            [--bnlab-env "VAR=VALUE ..."] [--torch-env "VAR=VALUE ..."]
# --torch-env GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
# keeps PyTorch's freed tensors in the heap instead of returning them to the kernel: on a VM where page
# faults are expensive that more than doubles its CNN speed. --bnlab-env "OPENBLAS_CORETYPE=SkylakeX" picks
# OpenBLAS's AVX-512 kernels where the environment pins others; --bnlab-env "-u OPENBLAS_CORETYPE -u
# OPENBLAS_L2_SIZE" (env's own flags) unsets what the environment pins, so bnlab picks the kernels itself.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
threads="1 2" batch=128 models="mlp cnn cifar-cnn" norms="none batch" rounds=5 steps=10
bnlab_env=() torch_env=()
bnlab="${BNLAB:-$root/build/bnlab}"
torch_python="${TORCH_PYTHON:-/usr/bin/python3}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --norms) norms="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --bnlab) bnlab="$2"; shift 2 ;;
    --bnlab-env) read -ra bnlab_env <<<"$2"; shift 2 ;;
    --torch-env) read -ra torch_env <<<"$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench_compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$bnlab" ]] || { echo "bench_compare.sh: no bnlab binary at $bnlab (build it, or pass --bnlab PATH)" >&2; exit 2; }
"$torch_python" -c 'import torch' 2>/dev/null ||
  { echo "bench_compare.sh: $torch_python has no torch (set TORCH_PYTHON)" >&2; exit 2; }

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; bnlab env: ${bnlab_env[*]:-none}; PyTorch env: ${torch_env[*]:-none}"
common=(--batch "$batch" --rounds "$rounds" --steps "$steps" --dropout off --json)
for t in $threads; do
  for m in $models; do
    for n in $norms; do
      env "${bnlab_env[@]}" "$bnlab" bench --model "$m" --norm "$n" --threads "$t" "${common[@]}" | sed 's/^{/{"framework":"bnlab",/' >>"$results"
      env "${torch_env[@]}" "$torch_python" "$root/scripts/bench_torch.py" --model "$m" --norm "$n" --threads "$t" "${common[@]}" >>"$results"
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$torch_python" - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
key = lambda r: (r["threads"], r["model"], r["norm"])
bn = {key(r): r for r in rows if r["framework"] == "bnlab"}
pt = {key(r): r for r in rows if r["framework"] != "bnlab"}
print("| threads | model | norm | bnlab train/s | PyTorch train/s | ratio | bnlab infer/s | PyTorch infer/s | ratio "
      "| bnlab GFLOP/s | bnlab MB | PyTorch MB |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in sorted(bn, key=lambda k: (k[0], ["mlp", "cnn", "cifar-cnn"].index(k[1]), k[2])):
    b, p = bn[k], pt.get(k)
    if p is None:
        continue
    print(f"| {k[0]} | {k[1]} | {k[2]} | {b['train_samples_per_s']:,.0f} | {p['train_samples_per_s']:,.0f} | "
          f"{b['train_samples_per_s'] / p['train_samples_per_s']:.2f} | {b['infer_samples_per_s']:,.0f} | "
          f"{p['infer_samples_per_s']:,.0f} | {b['infer_samples_per_s'] / p['infer_samples_per_s']:.2f} | "
          f"{b['train_gflops']:.1f} | {b['peak_rss_mb']:.0f} | {p['peak_rss_mb']:.0f} |")
print("# bnlab's OpenBLAS kernels: " + ", ".join(sorted({r.get("blas_core", "?") for r in bn.values()})))
PY
