#!/usr/bin/python3
"""Figures of a bnlab run directory (PNG): convergence, learning-rate and batch-size sweeps, activation
percentiles per layer (Ioffe & Szegedy 2015, Fig. 1), gradient norm per layer and the BN eval gap.

Usage: /usr/bin/python3 scripts/plot.py RUN_DIR [--out DIR]    (default DIR: RUN_DIR/plots)

Needs matplotlib and numpy (Debian: python3-matplotlib); reads the CSVs with the csv module only.
"""
import argparse
import csv
import json
import math
import os
import sys
from collections import OrderedDict, defaultdict

try:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np
except ImportError as missing:
    sys.exit(
        f"plot.py: the Python module '{missing.name}' is not available to {sys.executable}.\n"
        "Run this script with /usr/bin/python3 (Debian's python3-matplotlib), or install it: "
        "sudo apt-get install python3-matplotlib"
    )

LR = "train.optimizer.lr"
BATCH = "train.batch_size"


def number(text):
    """A CSV cell as a float; None when empty or not a number."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def canonical(value):
    """Swept values as text that compares equal between JSON (0.1) and CSV ("0.1")."""
    if isinstance(value, bool):
        return str(value).lower()
    v = number(str(value))
    if v is None or not math.isfinite(v):
        return str(value)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def dig(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


class Trial:
    def __init__(self, trial_id):
        self.id = trial_id
        self.variant = "default"
        self.seed = 0
        self.swept = {}
        self.norm = ""
        self.dropout = 0.0
        self.lr = None
        self.batch_size = None
        self.status = "unknown"
        self.epochs = []  # epochs.csv rows
        self.layers = []  # layers.csv rows

    def apply_config(self, cfg):
        t = cfg.get("trial", {}) if isinstance(cfg, dict) else {}
        self.variant = t.get("variant", self.variant)
        self.seed = t.get("seed", self.seed)
        self.swept = {k: canonical(v) for k, v in t.get("swept", {}).items()}
        self.norm = t.get("norm", self.norm)
        self.dropout = t.get("dropout", self.dropout) or 0.0
        self.lr = dig(cfg, LR)
        self.batch_size = dig(cfg, BATCH)

    def series(self, split, column="acc"):
        """(epochs, values) of one split in epoch order."""
        rows = sorted(
            (int(r["epoch"]), number(r.get(column)))
            for r in self.epochs
            if r.get("split") == split and number(r.get(column)) is not None
        )
        return [e for e, _ in rows], [v for _, v in rows]

    def final_test_acc(self):
        _, acc = self.series("test")
        return acc[-1] if acc else None


class Run:
    def __init__(self, run_dir):
        self.dir = run_dir
        experiment = read_json(os.path.join(run_dir, "experiment.json")) or {}
        config = experiment.get("config") or {}
        self.name = experiment.get("name") or config.get("name") or os.path.basename(os.path.abspath(run_dir))
        self.swept_keys = list(experiment.get("swept_keys") or (config.get("sweep") or {}).keys())
        # The plan lists trials in config order; experiment.json's own objects may have sorted keys.
        self.variant_order = []
        for entry in experiment.get("trials") or []:
            if entry.get("variant") not in self.variant_order:
                self.variant_order.append(entry.get("variant"))
        self.variant_order += [v for v in (config.get("variants") or {}) if v not in self.variant_order]
        self.target = dig(config, "metrics.target_accuracy")
        self.trials = OrderedDict()
        for entry in experiment.get("trials") or []:
            t = self.trials.setdefault(entry["id"], Trial(entry["id"]))
            t.status = "missing"
            t.apply_config(entry.get("config") or {})
            t.variant = entry.get("variant", t.variant)
        for row in read_csv(os.path.join(run_dir, "trials.csv")):
            t = self.trials.setdefault(row["trial"], Trial(row["trial"]))
            t.variant = row.get("variant") or t.variant
            t.status = row.get("status") or t.status
            for key in self.swept_keys:
                if row.get(key):
                    t.swept.setdefault(key, canonical(row[key]))
        for name in sorted(os.listdir(run_dir)):
            folder = os.path.join(run_dir, name)
            cfg = read_json(os.path.join(folder, "config.json")) if os.path.isdir(folder) else None
            if not cfg or "trial" not in cfg:
                continue
            t = self.trials.setdefault(cfg["trial"].get("id", name), Trial(cfg["trial"].get("id", name)))
            t.apply_config(cfg)
            if target := dig(cfg, "metrics.target_accuracy"):
                self.target = self.target or target
            status = read_json(os.path.join(folder, "status.json"))
            if status and status.get("status"):
                t.status = status["status"]
            t.epochs = read_csv(os.path.join(folder, "epochs.csv"))
            t.layers = read_csv(os.path.join(folder, "layers.csv"))
        for t in self.trials.values():
            for key in self.swept_keys:
                if key not in t.swept:
                    continue
                if key == LR:
                    t.lr = float(t.swept[key])
                if key == BATCH:
                    t.batch_size = float(t.swept[key])
            if t.variant not in self.variant_order:
                self.variant_order.append(t.variant)
        if not self.trials:
            raise SystemExit(f"plot.py: {run_dir}: no trials found (expected experiment.json, trials.csv or "
                             "trial folders with config.json): not a bnlab run directory")
        self.colors = {v: plt.get_cmap("tab10")(i % 10) for i, v in enumerate(self.variant_order)}

    def setting(self, t):
        return tuple((k, t.swept.get(k, "")) for k in self.swept_keys)

    def groups(self, variant):
        """setting → trials of one variant."""
        out = OrderedDict()
        for t in self.trials.values():
            if t.variant == variant:
                out.setdefault(self.setting(t), []).append(t)
        return out

    def best_setting(self, variant):
        """Highest mean final test accuracy among settings where no seed diverged (as `bnlab report`)."""
        groups = self.groups(variant)
        for require_stable in (True, False):
            best, best_acc = None, -1.0
            for setting, trials in groups.items():
                accs = [t.final_test_acc() for t in trials if t.status == "done" and t.final_test_acc() is not None]
                if not accs or (require_stable and any(t.status == "diverged" for t in trials)):
                    continue
                if np.mean(accs) > best_acc:
                    best, best_acc = setting, float(np.mean(accs))
            if best is not None:
                return best
        return None

    def done_at_best(self, variant):
        best = self.best_setting(variant)
        if best is None:
            return None, []
        return best, [t for t in self.groups(variant)[best] if t.status == "done"]

    def variants(self):
        return [v for v in self.variant_order if any(t.variant == v for t in self.trials.values())]


def setting_label(setting):
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in setting) or "only setting"


def mean_std_by_epoch(trials, split, column, transform=lambda v: v):
    """Epochs present in every trial, with mean and std over trials."""
    per_epoch = defaultdict(list)
    for t in trials:
        for e, v in zip(*t.series(split, column)):
            per_epoch[e].append(transform(v))
    epochs = sorted(e for e, vs in per_epoch.items() if len(vs) == len(trials))
    values = [per_epoch[e] for e in epochs]
    return np.array(epochs), np.array([np.mean(v) for v in values]), np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values])


def band(ax, x, mean, std, color, label):
    ax.plot(x, mean, color=color, label=label, marker="o", markersize=3)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def integer_epochs(*axes):
    for ax in axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def save(fig, path, written):
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    written.append(path)


def plot_convergence(run, out, written, skipped):
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    drawn = 0
    for v in run.variants():
        best, trials = run.done_at_best(v)
        if not trials:
            continue
        label = f"{v} ({setting_label(best)}, {len(trials)} seed{'s' if len(trials) > 1 else ''})"
        x, m, s = mean_std_by_epoch(trials, "test", "acc", lambda a: 100 * a)
        if len(x):
            band(acc_ax, x, m, s, run.colors[v], label)
            drawn += 1
        x, m, s = mean_std_by_epoch(trials, "train", "loss")
        if len(x):
            band(loss_ax, x, m, s, run.colors[v], label)
    if not drawn:
        plt.close(fig)
        skipped.append("convergence.png: no finished trial with test accuracy in epochs.csv")
        return
    if run.target:
        acc_ax.axhline(100 * run.target, color="gray", linestyle="--", linewidth=1, label=f"target {100 * run.target:g}%")
    acc_ax.set(xlabel="epoch (0 = before training)", ylabel="test accuracy (%)", title="Test accuracy (eval mode)")
    loss_ax.set(xlabel="epoch", ylabel="training loss (cross-entropy, mean over the epoch)",
                title="Training loss (train mode)")
    integer_epochs(acc_ax, loss_ax)
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{run.name}: convergence at each variant's best setting (mean ± std over seeds)")
    save(fig, os.path.join(out, "convergence.png"), written)


def plot_sweep(run, out, written, skipped, key, filename, xlabel, base):
    values = {t.swept.get(key) for t in run.trials.values() if t.swept.get(key) is not None}
    if key not in run.swept_keys or len(values) < 2:
        skipped.append(f"{filename}: the run did not sweep {key} over 2 or more values")
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    marked = False
    for i, v in enumerate(run.variants()):
        best = run.best_setting(v)
        fixed = {k: val for k, val in (best or ()) if k != key}  # other swept keys at the variant's best
        by_x = defaultdict(list)
        for t in run.trials.values():
            if t.variant != v or key not in t.swept or any(t.swept.get(k) != val for k, val in fixed.items()):
                continue
            by_x[float(t.swept[key])].append(t)
        xs, means, stds = [], [], []
        for x in sorted(by_x):
            accs = [100 * t.final_test_acc() for t in by_x[x] if t.status == "done" and t.final_test_acc() is not None]
            if accs:
                xs.append(x)
                means.append(np.mean(accs))
                stds.append(np.std(accs, ddof=1) if len(accs) > 1 else 0.0)
            diverged = sum(t.status == "diverged" for t in by_x[x])
            if diverged:
                # Small horizontal offsets keep the variants' markers apart.
                ax.scatter([x * base ** (0.04 * (i - 1.5))] * diverged, [2 + 3 * k for k in range(diverged)],
                           marker="x", color=run.colors[v], s=40, zorder=3)
                marked = True
        label = v + (f" ({setting_label(tuple(fixed.items()))})" if fixed else "")
        if xs:
            ax.errorbar(xs, means, yerr=stds, color=run.colors[v], marker="o", capsize=3, label=label)
    if marked:
        ax.scatter([], [], marker="x", color="black", label="diverged (one × per seed)")
    ax.set_xscale("log", base=base)
    ax.set(xlabel=xlabel, ylabel="final test accuracy (%)", ylim=(0, 100))
    ax.set_title(f"{run.name}: final test accuracy vs {key} (mean ± std over seeds)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save(fig, os.path.join(out, filename), written)


def representative(run, v):
    """The lowest seed that finished at the variant's best setting (or any trial with layer statistics)."""
    _, trials = run.done_at_best(v)
    trials = sorted((t for t in trials if t.layers), key=lambda t: t.seed)
    if trials:
        return trials[0]
    return next((t for t in run.trials.values() if t.variant == v and t.layers), None)


def layer_order(rows):
    names = OrderedDict()
    for r in rows:
        names.setdefault(r["layer"], None)
    return sorted(names, key=lambda n: int(n.split(".")[0]) if n.split(".")[0].isdigit() else 0)


def plot_activations(run, out, written, skipped):
    any_drawn = False
    for v in run.variants():
        t = representative(run, v)
        if t is None:
            continue
        layers = layer_order(t.layers)
        cols = min(4, len(layers))
        rows = math.ceil(len(layers) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False, sharex=True)
        for ax, layer in zip(axes.flat, layers):
            pts = sorted((number(r["step"]), number(r["unit_p15"]), number(r["unit_p50"]), number(r["unit_p85"]))
                         for r in t.layers if r["layer"] == layer and number(r["step"]) is not None)
            step, p15, p50, p85 = (np.array(c, dtype=float) for c in zip(*pts))
            ax.fill_between(step, p15, p85, color=run.colors[v], alpha=0.25, linewidth=0, label="15th–85th percentile")
            ax.plot(step, p50, color=run.colors[v], label="median")
            ax.set_title(f"layer {layer}", fontsize=9)
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(layers):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("optimizer step")
        for ax in axes[:, 0]:
            ax.set_ylabel("output of unit 0")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{v}: unit 0 of each layer's output on a fixed probe batch over training\n"
                     f"(15th/50th/85th percentiles over the batch; trial {t.id})", fontsize=10)
        fig.tight_layout()
        save(fig, os.path.join(out, f"activations_{safe(v)}.png"), written)
        any_drawn = True
    if not any_drawn:
        skipped.append("activations_*.png: no layers.csv rows (metrics.layer_stats was off)")


def plot_grad_norms(run, out, written, skipped):
    panels = []
    for v in run.variants():
        _, trials = run.done_at_best(v)
        trials = [t for t in trials if any(number(r.get("grad_norm")) is not None for r in t.layers)]
        if trials:
            panels.append((v, trials))
    if not panels:
        skipped.append("grad_norm.png: no per-layer gradient norms in layers.csv")
        return
    cols = 2 if len(panels) == 4 else min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (v, trials) in zip(axes.flat, panels):
        per_layer = defaultdict(lambda: defaultdict(list))
        for t in trials:
            for r in t.layers:
                g = number(r.get("grad_norm"))
                if g is not None and g > 0:
                    per_layer[r["layer"]][int(float(r["epoch"]))].append(g)
        cmap = plt.get_cmap("viridis")
        names = layer_order([{"layer": n} for n in per_layer])
        for i, layer in enumerate(names):
            epochs = sorted(per_layer[layer])
            ax.plot(epochs, [np.mean(per_layer[layer][e]) for e in epochs], marker="o", markersize=3,
                    color=cmap(i / max(1, len(names) - 1)), label=layer)
        ax.set_yscale("log")
        integer_epochs(ax)
        ax.set(xlabel="epoch (0 = initialization)", title=f"{v} ({len(trials)} seed{'s' if len(trials) > 1 else ''})")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, title="layer", title_fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("gradient L2 norm of the layer's parameters (log scale)")
    fig.suptitle(f"{run.name}: gradient norm per layer on the probe batch, each variant at its best setting "
                 "(mean over seeds)", fontsize=10)
    fig.tight_layout()
    save(fig, os.path.join(out, "grad_norm.png"), written)


def plot_eval_gap(run, out, written, skipped):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for v in run.variants():
        best, trials = run.done_at_best(v)
        per_epoch = defaultdict(list)
        for t in trials:
            train = dict(zip(*t.series("probe_train_mode")))
            evals = dict(zip(*t.series("probe_eval_mode")))
            for e in train.keys() & evals.keys():
                per_epoch[e].append(100 * (train[e] - evals[e]))
        epochs = sorted(e for e, gaps in per_epoch.items() if len(gaps) == len(trials))
        if not epochs:
            continue
        m = np.array([np.mean(per_epoch[e]) for e in epochs])
        s = np.array([np.std(per_epoch[e], ddof=1) if len(per_epoch[e]) > 1 else 0.0 for e in epochs])
        band(ax, np.array(epochs), m, s, run.colors[v], f"{v} ({setting_label(best)})")
        drawn += 1
    if not drawn:
        plt.close(fig)
        skipped.append("bn_eval_gap.png: no probe_train_mode/probe_eval_mode rows in epochs.csv")
        return
    ax.axhline(0, color="gray", linewidth=1)
    integer_epochs(ax)
    ax.set(xlabel="epoch (0 = before training)", ylabel="train-mode − eval-mode accuracy (percentage points)")
    ax.set_title(f"{run.name}: BN eval gap on a fixed training subset (mean ± std over seeds)\n"
                 "train mode uses batch statistics (and active dropout), eval mode running statistics", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, os.path.join(out, "bn_eval_gap.png"), written)


def safe(name):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `bnlab run`")
    parser.add_argument("--out", metavar="DIR", help="where to write the PNG files (default: RUN_DIR/plots)")
    args = parser.parse_args()
    if not os.path.isdir(args.run_dir):
        sys.exit(f"plot.py: {args.run_dir}: not a directory (expected a run directory)")
    run = Run(args.run_dir)
    out = args.out or os.path.join(args.run_dir, "plots")
    os.makedirs(out, exist_ok=True)
    written, skipped = [], []
    plot_convergence(run, out, written, skipped)
    plot_sweep(run, out, written, skipped, LR, "lr_sweep.png", "learning rate (log scale)", 10)
    plot_sweep(run, out, written, skipped, BATCH, "batch_size.png", "batch size (log scale)", 2)
    plot_activations(run, out, written, skipped)
    plot_grad_norms(run, out, written, skipped)
    plot_eval_gap(run, out, written, skipped)
    for path in written:
        print(f"wrote {path}")
    for reason in skipped:
        print(f"skipped {reason}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
