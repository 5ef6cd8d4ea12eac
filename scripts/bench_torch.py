#!/usr/bin/python3
"""Times bnlab's reference models (issue 6) in PyTorch the way `bnlab bench` does.

Same models, batch, thread count, timing (warm-up steps, then the median of R rounds of K steps) and
output fields (one JSON object per line with --json). Run with the interpreter that has torch:
    /usr/bin/python3 scripts/bench_torch.py --model cnn --norm batch --threads 1 --json
"""
import argparse
import ctypes
import json
import resource
import statistics
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("bench_torch.py needs PyTorch: run it with /usr/bin/python3 (Debian's python3-torch), "
             "or install torch for " + sys.executable)


def limit_openblas_threads(threads):
    """torch.set_num_threads does not reach OpenBLAS's own thread pool, which Debian's PyTorch uses for
    its dense layers: without this, "1 thread" ran those GEMMs on every core (measured: 2.0 CPU-seconds per
    second on 2 cores). Returns False when no OpenBLAS is loaded (another BLAS is then in charge)."""
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(threads)
        return True
    except (OSError, AttributeError):
        return False


MODELS = ["mlp", "cnn", "cifar-cnn"]
NORMS = ["none", "batch", "layer", "group"]


def norm_layer(norm, shape):
    """The norm for a per-sample shape, as bnlab's {"type":"norm"} placeholder builds it."""
    channels = shape[0]
    if norm == "batch":
        return nn.BatchNorm2d(channels) if len(shape) == 3 else nn.BatchNorm1d(channels)
    if norm == "layer":
        return nn.LayerNorm(list(shape))
    if norm == "group":
        return nn.GroupNorm(8, channels)
    return None


def build(model, norm, dropout):
    layers = []

    def add_norm(shape):
        n = norm_layer(norm, shape)
        if n is not None:
            layers.append(n)

    def add_dropout():
        if dropout:
            layers.append(nn.Dropout(0.5))

    if model == "mlp":
        layers.append(nn.Flatten())
        features = 784
        for _ in range(2):
            layers.append(nn.Linear(features, 256))
            add_norm((256,))
            layers.append(nn.ReLU())
            add_dropout()
            features = 256
        layers.append(nn.Linear(256, 10))
        return nn.Sequential(*layers), (1, 28, 28)
    channels, size = (1, 28) if model == "cnn" else (3, 32)
    input_shape = (channels, size, size)
    for filters in ([32, 64] if model == "cnn" else [32, 64, 128]):
        layers.append(nn.Conv2d(channels, filters, 3, padding=1))
        add_norm((filters, size, size))
        layers.append(nn.ReLU())
        layers.append(nn.MaxPool2d(2))
        channels, size = filters, size // 2
    layers.append(nn.Flatten())
    features = channels * size * size
    if model == "cnn":
        layers.append(nn.Linear(features, 128))
        add_norm((128,))
        layers.append(nn.ReLU())
        add_dropout()
        features = 128
    else:
        add_dropout()
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers), input_shape


def forward_macs(model, input_shape):
    """Multiply-adds of one forward pass per sample, counted as bnlab counts them."""
    macs = 0.0
    x = torch.zeros((1,) + tuple(input_shape))
    for layer in model:
        y = layer(x)
        out = y.numel()
        if isinstance(layer, nn.Linear):
            macs += layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            macs += out * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, nn.MaxPool2d):
            macs += out * layer.kernel_size * layer.kernel_size
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
            macs += 4 * out
        elif isinstance(layer, (nn.ReLU, nn.Dropout)):
            macs += out
        x = y
    return macs


def run(model_name, norm, dropout, args):
    torch.manual_seed(1)
    model, input_shape = build(model_name, norm, dropout)
    model.eval()
    macs = forward_macs(model, input_shape)
    images = torch.randn((args.batch,) + input_shape)
    labels = torch.arange(args.batch) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()

    def infer_step():
        with torch.no_grad():
            loss_fn(model(images), labels)

    samples = args.batch * args.steps

    def timed(step):
        for _ in range(args.warmup):
            step()
        rates = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            rates.append(samples / (time.perf_counter() - start))
        return statistics.median(rates)

    model.train()
    train = timed(train_step)
    model.eval()
    infer = timed(infer_step)
    return {
        "model": model_name, "norm": norm, "dropout": dropout, "batch": args.batch,
        "threads": args.threads, "train_samples_per_s": train, "infer_samples_per_s": infer,
        "train_gflops": train * 6 * macs * 1e-9, "infer_gflops": infer * 2 * macs * 1e-9,
        "forward_macs_per_sample": macs,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "framework": "pytorch " + torch.__version__,
    }


def expand(value, allowed, option):
    if value == "all":
        return allowed
    if value not in allowed:
        sys.exit(f"{option}: unknown value {value!r} (expected {', '.join(allowed)} or all)")
    return [value]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="all")
    p.add_argument("--norm", default="all")
    p.add_argument("--dropout", default="off", choices=["on", "off", "both"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if not limit_openblas_threads(args.threads):
        print("note: no libopenblas.so.0 loaded; PyTorch's BLAS threads are not limited", file=sys.stderr)
    drops = {"on": [True], "off": [False], "both": [False, True]}[args.dropout]
    if not args.json:
        print(f"{'model':<10} {'norm':<6} {'dropout':<7} {'batch':>6} {'threads':>7} {'train samp/s':>14} "
              f"{'train GF/s':>10} {'infer samp/s':>14} {'infer GF/s':>10} {'peak MB':>9}")
    for m in expand(args.model, MODELS, "--model"):
        for n in expand(args.norm, NORMS, "--norm"):
            for d in drops:
                r = run(m, n, d, args)
                if args.json:
                    print(json.dumps(r), flush=True)
                else:
                    print(f"{m:<10} {n:<6} {'on' if d else 'off':<7} {args.batch:>6} {args.threads:>7} "
                          f"{r['train_samples_per_s']:>14.0f} {r['train_gflops']:>10.1f} "
                          f"{r['infer_samples_per_s']:>14.0f} {r['infer_gflops']:>10.1f} "
                          f"{r['peak_rss_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
