#!/usr/bin/env python3
"""Writes tests/fixtures/optim_goldens.json: PyTorch reference values for bnlab's optimizers and loss.

Run with an interpreter that has torch (Debian: python3-torch), e.g.
    /usr/bin/python3 scripts/golden/make_optim_goldens.py
The tests read the JSON only; they never need torch. Every float is a float32 value written exactly.
"""
import json
import pathlib
import sys

import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "optim_goldens.json"
STEPS = 5
# A different learning rate on every step, as a schedule would pass, so step(lr) must use its argument.
LRS = [0.1, 0.05, 0.2, 0.1, 0.02]


def floats(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make_problem():
    g = torch.Generator().manual_seed(1234)
    weight = torch.randn(3, 4, generator=g)
    bias = torch.randn(4, generator=g)
    grads = [(torch.randn(3, 4, generator=g), torch.randn(4, generator=g)) for _ in range(STEPS)]
    return weight, bias, grads


def run_case(name, make_optimizer, decay_bias=True, lrs=LRS):
    """make_optimizer(groups) -> torch optimizer; decay_bias=False puts the bias in a group without decay,
    which is what bnlab's exclude_norm_and_bias does for ParamKind::Bias."""
    weight0, bias0, grads = make_problem()
    weight = weight0.clone().requires_grad_(True)
    bias = bias0.clone().requires_grad_(True)
    if decay_bias:
        groups = [{"params": [weight, bias]}]
    else:
        groups = [{"params": [weight]}, {"params": [bias], "weight_decay": 0.0}]
    opt = make_optimizer(groups)
    after = []
    for step in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        weight.grad = grads[step][0].clone()
        bias.grad = grads[step][1].clone()
        opt.step()
        after.append({"weight": floats(weight), "bias": floats(bias)})
    state = {}
    for pname, p in (("weight", weight), ("bias", bias)):
        s = opt.state[p]
        state[pname] = {k: (floats(v) if torch.is_tensor(v) and v.dim() > 0 else float(v)) for k, v in s.items() if v is not None}
    return {
        "name": name,
        "lrs": lrs,
        "weight_shape": list(weight0.shape),
        "bias_shape": list(bias0.shape),
        "weight": floats(weight0),
        "bias": floats(bias0),
        "grads": [{"weight": floats(gw), "bias": floats(gb)} for gw, gb in grads],
        "after": after,
        "final_state": state,
    }


def optimizer_cases():
    sgd, adam, adamw = torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW
    cases = []

    def sgd_case(name, decay_bias=True, **kw):
        case = run_case(name, lambda g: sgd(g, lr=LRS[0], **kw), decay_bias)
        case.update(type="sgd", options=dict(kw, exclude_norm_and_bias=not decay_bias))
        cases.append(case)

    def adam_case(name, cls, decay_bias=True, **kw):
        case = run_case(name, lambda g: cls(g, lr=LRS[0], **kw), decay_bias)
        options = dict(kw, exclude_norm_and_bias=not decay_bias, decoupled_weight_decay=cls is adamw)
        if "betas" in options:
            options["beta1"], options["beta2"] = options.pop("betas")
        case.update(type="adamw" if cls is adamw else "adam", options=options)
        cases.append(case)

    sgd_case("sgd plain")
    sgd_case("sgd momentum", momentum=0.9)
    sgd_case("sgd momentum dampening", momentum=0.9, dampening=0.3)
    sgd_case("sgd momentum dampening weight decay", momentum=0.8, dampening=0.1, weight_decay=0.05)
    sgd_case("sgd nesterov", momentum=0.9, nesterov=True)
    sgd_case("sgd nesterov weight decay", momentum=0.9, nesterov=True, weight_decay=0.01)
    sgd_case("sgd weight decay excluding bias", decay_bias=False, momentum=0.9, weight_decay=0.1)
    adam_case("adam", adam)
    adam_case("adam betas eps", adam, betas=(0.8, 0.95), eps=1e-6)
    adam_case("adam weight decay", adam, weight_decay=0.1)
    adam_case("adam weight decay excluding bias", adam, decay_bias=False, weight_decay=0.1)
    adam_case("adamw", adamw, weight_decay=0.1)
    adam_case("adamw no decay", adamw, weight_decay=0.0)
    adam_case("adamw weight decay excluding bias", adamw, decay_bias=False, weight_decay=0.1)
    return cases


def loss_cases():
    g = torch.Generator().manual_seed(99)
    cases = []

    def add(name, logits, labels):
        logits = logits.clone().requires_grad_(True)
        target = torch.tensor(labels, dtype=torch.long)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        cases.append({
            "name": name,
            "shape": list(logits.shape),
            "logits": floats(logits),
            "labels": labels,
            "loss": float(loss),
            "grad": floats(logits.grad),
            "correct": int((logits.argmax(dim=1) == target).sum()),
        })

    add("random 4x5", 3.0 * torch.randn(4, 5, generator=g), [0, 3, 4, 1])
    add("one sample", torch.randn(1, 3, generator=g), [2])
    add("two classes", torch.randn(6, 2, generator=g), [0, 1, 1, 0, 1, 0])
    # Naive exp() overflows float32 here; log-sum-exp with max subtraction must not.
    add("huge logits", torch.tensor([[1000.0, 0.0, -1000.0], [-5000.0, 5000.0, 4990.0], [88.0, 89.0, 90.0]]),
        [0, 2, 1])
    return cases


def main():
    torch.set_num_threads(1)
    data = {
        "generator": "scripts/golden/make_optim_goldens.py",
        "torch_version": torch.__version__,
        "optimizers": optimizer_cases(),
        "cross_entropy": loss_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
