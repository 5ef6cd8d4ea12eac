#!/usr/bin/env python3
"""Writes tests/fixtures/norm_goldens.json: PyTorch reference values for bnlab's normalization layers.

Run with an interpreter that has torch (here /usr/bin/python3):
    /usr/bin/python3 scripts/golden/make_norm_goldens.py

Inputs, upstream gradients and gamma/beta are multiples of 1/16, so they are exact in float32, float64 and
in the JSON text; PyTorch computes in float64, so the fixture holds the exact answer for bnlab's float32
inputs. The C++ tests read the fixture and need no torch.
"""
import json
import os
import sys

try:
    import torch
except ImportError:
    sys.exit(
        "make_norm_goldens.py needs PyTorch, which this interpreter (%s) lacks.\n"
        "Run it with an interpreter that has torch, e.g. /usr/bin/python3 (Debian: apt install python3-torch)."
        % sys.executable
    )

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "norm_goldens.json")

gen = torch.Generator().manual_seed(20240501)


def grid_values(shape, scale=1.0, per_channel_offset=False):
    """Random values rounded to multiples of 1/16; optionally a different mean per channel (dim 1)."""
    t = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    if per_channel_offset and len(shape) > 1:
        offsets = torch.arange(shape[1], dtype=torch.float64) - 1.0
        t = t + offsets.view(1, -1, *([1] * (len(shape) - 2))) * 1.5
    return torch.round(t * 16) / 16


def flat(t):
    # 8 significant digits: far below the tests' 1e-5 tolerance, and short.
    return [float("%.8g" % v) for v in t.detach().reshape(-1).tolist()]


def step(module, x, dy, param_grads=True):
    """One forward/backward with fresh gradients; returns output, input and (optionally) parameter gradients."""
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(dy)
    rec = {"input": flat(x), "grad_output": flat(dy), "output": flat(y), "grad_input": flat(x.grad)}
    if param_grads and module.weight is not None:
        rec["grad_weight"] = flat(module.weight.grad)
        rec["grad_bias"] = flat(module.bias.grad)
    return rec


def set_affine(module, shape):
    if module.weight is None:
        return None
    with torch.no_grad():
        module.weight.copy_(1.0 + grid_values(shape, 0.3))
        module.bias.copy_(grid_values(shape, 0.5))
    return {"weight": flat(module.weight), "bias": flat(module.bias)}


def batchnorm_case(name, input_shape, momentum=0.1, affine=True, track_running_stats=True):
    channels = input_shape[1]
    cls = torch.nn.BatchNorm1d if len(input_shape) <= 3 else torch.nn.BatchNorm2d
    bn = cls(channels, eps=1e-5, momentum=momentum, affine=affine, track_running_stats=track_running_stats).double()
    case = {
        "name": name,
        "kind": "1d" if cls is torch.nn.BatchNorm1d else "2d",
        "input_shape": list(input_shape),
        "eps": 1e-5,
        "momentum": momentum,
        "affine": affine,
        "track_running_stats": track_running_stats,
    }
    params = set_affine(bn, (channels,))
    if params:
        case.update(params)
    bn.train()
    # Step 1 records everything; steps 2 and 3 only what the running statistics depend on.
    steps = []
    for i in range(3):
        x = grid_values(input_shape, 2.0, True)
        if i == 0:
            rec = step(bn, x, grid_values(input_shape))
        else:
            with torch.no_grad():
                bn(x)
            rec = {"input": flat(x)}
        if track_running_stats:
            rec["running_mean"] = flat(bn.running_mean)
            rec["running_var"] = flat(bn.running_var)
            rec["num_batches_tracked"] = int(bn.num_batches_tracked)
        steps.append(rec)
    case["train_steps"] = steps
    bn.eval()
    case["eval"] = step(bn, grid_values(input_shape, 2.0, True), grid_values(input_shape), param_grads=False)
    return case


def layernorm_case(name, input_shape, affine="per_element"):
    normalized = list(input_shape[1:])
    if affine == "per_channel":
        # LayerNorm with one gamma/beta per channel is GroupNorm with a single group.
        module = torch.nn.GroupNorm(1, input_shape[1], eps=1e-5).double()
        param_shape = (input_shape[1],)
    else:
        module = torch.nn.LayerNorm(normalized, eps=1e-5, elementwise_affine=affine == "per_element").double()
        param_shape = tuple(normalized)
    case = {"name": name, "input_shape": list(input_shape), "eps": 1e-5, "affine": affine}
    params = set_affine(module, param_shape)
    if params:
        case.update(params)
    case["train"] = step(module, grid_values(input_shape, 2.0, True), grid_values(input_shape))
    return case


def groupnorm_case(name, input_shape, groups, affine=True):
    module = torch.nn.GroupNorm(groups, input_shape[1], eps=1e-5, affine=affine).double()
    case = {"name": name, "input_shape": list(input_shape), "groups": groups, "eps": 1e-5, "affine": affine}
    params = set_affine(module, (input_shape[1],))
    if params:
        case.update(params)
    case["train"] = step(module, grid_values(input_shape, 2.0, True), grid_values(input_shape))
    return case


def main():
    goldens = {
        "generator": "scripts/golden/make_norm_goldens.py",
        "torch_version": torch.__version__,
        "dtype": "float64",
        "batchnorm": [
            batchnorm_case("bn1d_momentum_0.1", (4, 3)),
            batchnorm_case("bn1d_cumulative", (4, 3), momentum=None),
            batchnorm_case("bn1d_no_affine", (5, 3), affine=False),
            batchnorm_case("bn1d_no_running_stats", (4, 3), track_running_stats=False),
            batchnorm_case("bn2d_momentum_0.1", (2, 3, 2, 2)),
            batchnorm_case("bn2d_cumulative", (2, 2, 2, 2), momentum=None),
            batchnorm_case("bn2d_no_affine_no_running_stats", (3, 2, 2, 1), affine=False, track_running_stats=False),
            batchnorm_case("bn2d_batch_of_one", (1, 2, 2, 3)),
        ],
        "layernorm": [
            layernorm_case("ln_dense", (3, 5)),
            layernorm_case("ln_image", (2, 2, 2, 2)),
            layernorm_case("ln_per_channel", (2, 3, 2, 2), affine="per_channel"),
            layernorm_case("ln_no_affine", (2, 2, 3, 1), affine="none"),
        ],
        "groupnorm": [
            groupnorm_case("gn_image", (2, 4, 2, 1), groups=2),
            groupnorm_case("gn_dense", (3, 6), groups=3),
            groupnorm_case("gn_one_channel_per_group", (2, 3, 2, 1), groups=3),
            groupnorm_case("gn_no_affine", (2, 4, 1, 2), groups=2, affine=False),
        ],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        # One case per line: small, and a regenerated fixture diffs case by case.
        f.write("{\n")
        header = ["generator", "torch_version", "dtype"]
        for key in header:
            f.write(' "%s": %s,\n' % (key, json.dumps(goldens[key])))
        families = ["batchnorm", "layernorm", "groupnorm"]
        for i, family in enumerate(families):
            f.write(' "%s": [\n' % family)
            cases = goldens[family]
            for j, case in enumerate(cases):
                f.write("  " + json.dumps(case, separators=(",", ":")) + ("," if j + 1 < len(cases) else "") + "\n")
            f.write(" ]" + ("," if i + 1 < len(families) else "") + "\n")
        f.write("}\n")
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT, ROOT), os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
