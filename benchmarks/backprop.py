"""Hand-written backprop vs jax.grad vs finite differences, in one process.

    python benchmarks/backprop.py [--quick]

Prints (1) the time of the jitted hand-written gradient (BP1-BP4) beside the
jitted ``jax.grad`` gradient of the same cost, with their ratio (target 0.9 to
1.1), and (2) the time of the finite-difference gradient on networks of
growing parameter count P, against the forward pass and backprop: finite
differences grow linearly with P, backprop stays about two forward passes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # _timing, and this checkout's fnn

import jax
import numpy as np

from _timing import interleaved
from fnn import backprop
from fnn.nn import MLP


def _setup(sizes, hidden, output, batch, seed=0):
    net = MLP(sizes, hidden=hidden, output=output)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    params = net.init(k1)
    x = jax.random.uniform(k2, (batch, sizes[0]))
    y = jax.random.randint(k3, (batch,), 0, sizes[-1])
    return net, params, x, y


def hand_vs_autodiff(quick: bool) -> list[dict]:
    rows = [
        ((784, 30, 10), "sigmoid", "sigmoid", "quadratic", 10),
        ((784, 30, 10), "sigmoid", "sigmoid", "quadratic", 1000),
        ((784, 1024, 1024, 10), "relu", "softmax", "log_likelihood", 128),
        ((784, 1024, 1024, 10), "relu", "softmax", "log_likelihood", 1024),
    ]
    if quick:
        rows = [r for r in rows if r[-1] <= 128]
    out = []
    print(f"{'network':22s} {'act':8s} {'batch':>6s} {'hand (ms)':>10s} {'jax.grad (ms)':>14s} {'hand/auto':>10s}")
    for sizes, hidden, output, cost, batch in rows:
        net, params, x, y = _setup(sizes, hidden, output, batch)
        hand = jax.jit(lambda p, x, y: backprop.value_and_grad(net, cost, p, x, y))
        auto = jax.jit(lambda p, x, y: backprop.autodiff_value_and_grad(net, cost, p, x, y))
        t = interleaved({"hand": lambda: hand(params, x, y), "auto": lambda: auto(params, x, y)},
                        rounds=3 if quick else 7)
        ratio = t["hand"] / t["auto"]
        name = "-".join(map(str, sizes))
        print(f"{name:22s} {hidden:8s} {batch:6d} {1e3 * t['hand']:10.3f} {1e3 * t['auto']:14.3f} {ratio:10.3f}")
        out.append({"network": name, "batch": batch, "hand_s": t["hand"], "auto_s": t["auto"], "ratio": ratio})
    return out


def finite_differences(quick: bool) -> list[dict]:
    widths = (8, 16, 32) if quick else (16, 32, 64, 128, 256)
    batch = 32
    print(f"\n{'network':14s} {'P':>7s} {'forward (ms)':>13s} {'backprop (ms)':>14s} {'bp/fwd':>7s} "
          f"{'finite diff (ms)':>17s} {'fd/fwd':>9s} {'fd/fwd/P':>9s}")
    out = []
    for w in widths:
        sizes = (64, w, w, 4)
        net, params, x, y = _setup(sizes, "sigmoid", "softmax", batch)
        fwd = jax.jit(lambda p: backprop.loss(net, "log_likelihood", p, x, y))
        bp = jax.jit(lambda p: backprop.grad(net, "log_likelihood", p, x, y))
        fd = lambda: backprop.numerical_grad(fwd, params, eps=1e-2, method="forward")
        t = interleaved({"fwd": lambda: fwd(params), "bp": lambda: bp(params)}, rounds=3)
        fd()  # numerical_grad compiles on its first call; time the second
        t0 = time.perf_counter()
        jax.block_until_ready(fd())
        t_fd = time.perf_counter() - t0
        p = net.num_params()
        print(f"{'-'.join(map(str, sizes)):14s} {p:7d} {1e3 * t['fwd']:13.3f} {1e3 * t['bp']:14.3f} "
              f"{t['bp'] / t['fwd']:7.2f} {1e3 * t_fd:17.1f} {t_fd / t['fwd']:9.0f} {t_fd / t['fwd'] / p:9.2f}")
        out.append({"P": p, "forward_s": t["fwd"], "backprop_s": t["bp"], "finite_diff_s": t_fd})
    logp = np.log([r["P"] for r in out])
    for key, name, expected in (("finite_diff_s", "finite differences", 1), ("backprop_s", "backprop", 0)):
        slope = np.polyfit(logp, np.log([r[key] / r["forward_s"] for r in out]), 1)[0]
        print(f"log-log slope of {name} time, in forward passes, vs P: {slope:.2f} (theory {expected})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} CPUs)\n")
    hand_vs_autodiff(args.quick)
    finite_differences(args.quick)


if __name__ == "__main__":
    main()
