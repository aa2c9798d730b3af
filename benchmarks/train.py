"""Training speed: fnn's scanned epoch beside plain JAX, PyTorch and NumPy, in one process.

Run from the repository root::

    python benchmarks/train.py            # ~1-2 minutes on 2 CPU cores
    python benchmarks/train.py --quick    # a few seconds: tiny sizes, a smoke test

Workloads (random data of MNIST's shape: 784 inputs in [0, 1], 10 classes):

1. ``784-30-10`` sigmoid, quadratic cost, SGD ``eta = 3.0``, batch 10 (Nielsen's recipe);
2. ``784-1024-1024-10`` ReLU / softmax, log-likelihood, Adam ``1e-3``, batch 128;
3. the same at batch 1024.

Contestants, each timed on whole epochs after a warm-up epoch. The machine
may be shared, so timing is best-of: the contestants run in interleaved rounds
of one epoch each, each as many rounds as fit in ``--budget`` seconds (at least
``--repeats``), and the best round counts.

* ``fnn[backprop]``, ``fnn[autodiff]``: ``fnn.train.make_epoch`` (one jitted
  ``lax.scan`` over the shuffled mini-batches) with the hand-written gradient
  and with ``jax.grad``;
* ``plain JAX``: the same epoch written inline here with ``jax.value_and_grad``
  and the optimizer by hand (what a JAX user would write without fnn);
* ``PyTorch``: the idiomatic eager loop (``torch.nn.Sequential``,
  ``torch.optim``), when ``torch`` is importable (skipped with a message when
  not), with its default number of intra-op threads and with one thread (on a
  loaded machine one thread is often faster: both rows are shown);
* ``NumPy``: Nielsen's ``network.py`` style per-example backprop loop, only on
  the 784-30-10 row (on a subset: it is slow).

Printed per row: examples/s, fnn's ratio to each peer, and the arithmetic rate
in GFLOP/s as a fraction of the float32 matrix-multiply peak measured in the
same run (a jitted ``jnp.dot`` of two large square matrices). FLOPs are
counted exactly for the matrix products: forward ``2 m n_in n_out`` per layer,
backward twice that (weight gradient and input gradient) except the first
layer, whose input gradient is not needed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from fnn import nn, optim, train  # noqa: E402


# --------------------------------------------------------------------------
# workloads


class Workload:
    def __init__(self, name, sizes, hidden, output, cost, opt, rate, batch, n, n_numpy=0):
        self.name, self.sizes, self.hidden, self.output, self.cost = name, sizes, hidden, output, cost
        self.opt, self.rate, self.batch, self.n, self.n_numpy = opt, rate, batch, n, n_numpy

    @property
    def flops_per_example(self) -> float:
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        fwd = sum(2 * i * o for i, o in pairs)
        bwd = sum(2 * i * o for i, o in pairs) + sum(2 * i * o for i, o in pairs[1:])
        return float(fwd + bwd)


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [
            Workload("784-30-10 sigmoid/quadratic SGD m=10", (784, 30, 10), "sigmoid", "sigmoid", "quadratic",
                     "sgd", 3.0, 10, 2000, 200),
            Workload("784-128-128-10 relu/softmax Adam m=128", (784, 128, 128, 10), "relu", "softmax",
                     "log_likelihood", "adam", 1e-3, 128, 1024),
        ]
    return [
        Workload("784-30-10 sigmoid/quadratic SGD m=10", (784, 30, 10), "sigmoid", "sigmoid", "quadratic",
                 "sgd", 3.0, 10, 20000, 2000),
        Workload("784-1024-1024-10 relu/softmax Adam m=128", (784, 1024, 1024, 10), "relu", "softmax",
                 "log_likelihood", "adam", 1e-3, 128, 4096),
        Workload("784-1024-1024-10 relu/softmax Adam m=1024", (784, 1024, 1024, 10), "relu", "softmax",
                 "log_likelihood", "adam", 1e-3, 1024, 8192),
    ]


def make_data(w: Workload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((w.n, w.sizes[0]), dtype=np.float32)
    y = rng.integers(0, w.sizes[-1], w.n).astype(np.int32)
    return x, y


def init_params(w: Workload, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shared initial weights (He / Xavier scale), W of shape (n_out, n_in)."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for i, o in zip(w.sizes[:-1], w.sizes[1:]):
        scale = np.sqrt(2.0 / i) if w.hidden == "relu" else 1.0 / np.sqrt(i)
        out.append(((rng.standard_normal((o, i)) * scale).astype(np.float32), np.zeros(o, np.float32)))
    return out


# --------------------------------------------------------------------------
# contestants: each returns run_epoch() -> examples processed (blocking)


def fnn_epoch(w: Workload, x, y, grad: str, precision: str = "float32") -> Callable[[], int]:
    net = nn.MLP(w.sizes, hidden=w.hidden, output=w.output)
    opt = optim.gd(w.rate) if w.opt == "sgd" else optim.adam(w.rate)  # gd on mini-batches is plain SGD
    state = train.init_state(net, opt, jax.random.key(0))
    params = tuple({"W": jnp.asarray(W), "b": jnp.asarray(b)} for W, b in init_params(w))
    state = state._replace(params=params, opt_state=opt.init(params))
    epoch = train.make_epoch(net, w.cost, opt, w.batch, grad=grad, donate=True, precision=precision)
    xd, yd = jax.device_put(x), jax.device_put(y)
    box = [state]
    nb = w.n // w.batch

    def run() -> int:
        box[0], metrics = epoch(box[0], xd, yd)
        jax.block_until_ready((box[0], metrics))
        return nb * w.batch

    return run


def plain_parts(w: Workload) -> tuple[Callable, Callable, Callable]:
    """``(loss, init, update)`` as a JAX user writes them by hand for one network: the cost of
    ``params = [(W, b), ...]`` on a batch, the optimizer's initial state and its update
    (population.py vmaps the same three over members)."""
    k = w.sizes[-1]
    act = jax.nn.relu if w.hidden == "relu" else jax.nn.sigmoid
    b1, b2, eps = 0.9, 0.999, 1e-8

    def loss(params, xb, yb):
        z = xb
        for W, b in params[:-1]:
            z = act(z @ W.T + b)
        W, b = params[-1]
        a = z @ W.T + b
        t = jax.nn.one_hot(yb, k, dtype=a.dtype)
        if w.cost == "quadratic":
            return 0.5 * jnp.mean(jnp.sum((jax.nn.sigmoid(a) - t) ** 2, axis=1))
        return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(a), axis=1))

    def init(params):
        zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731 (two buffers)
        return () if w.opt == "sgd" else (jnp.zeros((), jnp.int32), zeros(), zeros())

    def update(params, grads, opt_state):
        if w.opt == "sgd":
            return jax.tree_util.tree_map(lambda p, g: p - w.rate * g, params, grads), opt_state
        t, mu, nu = opt_state
        t = t + 1
        mu = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, mu, grads)
        nu = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, nu, grads)
        tf = t.astype(jnp.float32)
        c1, c2 = 1 - b1**tf, 1 - b2**tf
        params = jax.tree_util.tree_map(lambda p, a, v: p - w.rate * (a / c1) / (jnp.sqrt(v / c2) + eps), params, mu, nu)
        return params, (t, mu, nu)

    return loss, init, update


def plain_jax_epoch(w: Workload, x, y) -> Callable[[], int]:
    """The epoch a JAX user writes by hand: value_and_grad, the optimizer inline, scan."""
    m = w.batch
    nb = w.n // m
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init_params(w)]
    loss, init, update = plain_parts(w)
    opt_state = init(params)

    @jax.jit
    def epoch(carry, key, x, y):
        perm = jax.random.permutation(key, x.shape[0])[: nb * m]
        xb = x[perm].reshape(nb, m, -1)
        yb = y[perm].reshape(nb, m)

        def step(carry, b):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss)(params, *b)
            params, opt_state = update(params, grads, opt_state)
            return (params, opt_state), value

        return jax.lax.scan(step, carry, (xb, yb))

    xd, yd = jax.device_put(x), jax.device_put(y)
    box = [(params, opt_state), jax.random.key(0)]

    def run() -> int:
        box[1], sub = jax.random.split(box[1])
        box[0], costs = epoch(box[0], sub, xd, yd)
        jax.block_until_ready((box[0], costs))
        return nb * m

    return run


def torch_epoch(w: Workload, x, y, threads: int) -> Callable[[], int] | None:
    """The idiomatic eager PyTorch loop on ``threads`` intra-op threads (``torch.set_num_threads``)."""
    try:
        import torch
    except ImportError:
        return None
    w = Workload(w.name, w.sizes, w.hidden, w.output, w.cost, w.opt, w.rate, w.batch, x.shape[0])
    layers = []
    for l, (W, b) in enumerate(init_params(w)):
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if l < len(w.sizes) - 2:
            layers.append(torch.nn.ReLU() if w.hidden == "relu" else torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=w.rate) if w.opt == "sgd" else torch.optim.Adam(model.parameters(), lr=w.rate)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    m, nb, k = w.batch, w.n // w.batch, w.sizes[-1]
    eye = torch.eye(k)

    def loss_fn(a, yb):
        if w.cost == "quadratic":
            return 0.5 * ((torch.sigmoid(a) - eye[yb]) ** 2).sum(dim=1).mean()
        return torch.nn.functional.cross_entropy(a, yb)

    def run() -> int:
        torch.set_num_threads(threads)
        perm = torch.randperm(w.n)[: nb * m]
        xs, ys = xt[perm], yt[perm]
        for i in range(nb):
            xb, yb = xs[i * m : (i + 1) * m], ys[i * m : (i + 1) * m]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        return nb * m

    return run


def numpy_epoch(w: Workload, x, y) -> Callable[[], int]:
    """Nielsen's network.py: backprop one example at a time, summed over the mini-batch."""
    params = init_params(w)
    weights = [W.astype(np.float64) for W, _ in params]
    biases = [b.astype(np.float64)[:, None] for _, b in params]
    n, m = w.n_numpy, w.batch
    xs = [x[i].astype(np.float64)[:, None] for i in range(n)]
    ys = [np.eye(w.sizes[-1])[y[i]][:, None] for i in range(n)]
    rng = np.random.default_rng(0)

    def sigmoid(a):
        return 1.0 / (1.0 + np.exp(-a))

    def backprop(xi, yi):
        zs, acts, act = [], [xi], xi
        for W, b in zip(weights, biases):
            a = W @ act + b
            zs.append(a)
            act = sigmoid(a)
            acts.append(act)
        s = sigmoid(zs[-1])
        delta = (acts[-1] - yi) * s * (1 - s)
        gw, gb = [None] * len(weights), [None] * len(weights)
        gw[-1], gb[-1] = delta @ acts[-2].T, delta
        for l in range(2, len(weights) + 1):
            s = sigmoid(zs[-l])
            delta = (weights[-l + 1].T @ delta) * s * (1 - s)
            gw[-l], gb[-l] = delta @ acts[-l - 1].T, delta
        return gw, gb

    def run() -> int:
        order = rng.permutation(n)
        for start in range(0, n - m + 1, m):
            sw = [np.zeros_like(W) for W in weights]
            sb = [np.zeros_like(b) for b in biases]
            for i in order[start : start + m]:
                gw, gb = backprop(xs[i], ys[i])
                sw = [a + g for a, g in zip(sw, gw)]
                sb = [a + g for a, g in zip(sb, gb)]
            for l in range(len(weights)):
                weights[l] -= (w.rate / m) * sw[l]
                biases[l] -= (w.rate / m) * sb[l]
        return (n // m) * m

    return run


# --------------------------------------------------------------------------
# timing


class MatmulPeak:
    """Float32 GFLOP/s of a jitted ``jnp.dot`` of two ``(n, n)`` matrices; :meth:`sample` is
    called between the contestants' runs, and the best sample is the peak."""

    def __init__(self, n: int, dtype=jnp.float32):
        self.n = n
        self.a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        self.b = jax.random.normal(jax.random.key(1), (n, n), dtype)
        self.f = jax.jit(jnp.dot)
        self.f(self.a, self.b).block_until_ready()
        self.best = 0.0

    def sample(self, repeats: int = 3) -> float:
        for _ in range(repeats):
            t0 = time.perf_counter()
            self.f(self.a, self.b).block_until_ready()
            self.best = max(self.best, 2 * self.n**3 / (time.perf_counter() - t0) / 1e9)
        return self.best


TORCH_THREADS = 0  # PyTorch's default intra-op threads, read once in main() before any change


def bench_row(w: Workload, min_rounds: int, budget_s: float, peak: MatmulPeak) -> dict[str, float]:
    """Best examples/s of each contestant over interleaved rounds of one epoch each.

    Each contestant gets as many rounds as fit in ``budget_s`` seconds (at least
    ``min_rounds``, at most 40): fast epochs are repeated often, so the best round
    is one the machine's other load did not disturb.
    """
    x, y = make_data(w)
    sub = slice(0, w.n_numpy or w.n)  # slow contestants run on a subset (examples/s does not depend on it)
    contestants: dict[str, Callable[[], int] | None] = {
        "fnn[backprop]": fnn_epoch(w, x, y, "backprop"),
        "fnn[autodiff]": fnn_epoch(w, x, y, "autodiff"),
        "plain JAX": plain_jax_epoch(w, x, y),
    }
    if w.batch >= 128:  # mixed precision where the matrix products dominate
        contestants["fnn[bp] bf16"] = fnn_epoch(w, x, y, "backprop", "bfloat16")
    try:
        import torch

        threads = TORCH_THREADS or torch.get_num_threads()
        contestants[f"PyTorch {threads} thr"] = torch_epoch(w, x[sub], y[sub], threads)
        if threads > 1:
            contestants["PyTorch 1 thr"] = torch_epoch(w, x[sub], y[sub], 1)
    except ImportError:
        pass
    if w.n_numpy:
        contestants["NumPy (Nielsen)"] = numpy_epoch(w, x, y)
    live = {k: f for k, f in contestants.items() if f is not None}
    rounds = {}
    for k, f in live.items():  # compile / warm up, then time one epoch to size the number of rounds
        if not k.startswith(("PyTorch", "NumPy")):
            f()
        t0 = time.perf_counter()
        f()
        rounds[k] = min(40, max(min_rounds, int(budget_s / (time.perf_counter() - t0))))
    best: dict[str, float] = {k: 0.0 for k in live}
    for r in range(max(rounds.values())):
        for k, f in live.items():
            if r >= rounds[k]:
                continue
            t0 = time.perf_counter()
            done = f()
            best[k] = max(best[k], done / (time.perf_counter() - t0))
        if r < min_rounds:
            peak.sample(1)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test in a few seconds")
    p.add_argument("--repeats", type=int, default=None, help="minimum timing rounds per contestant (best is kept)")
    p.add_argument("--budget", type=float, default=None, help="seconds of timing per contestant and row (default 4)")
    args = p.parse_args(argv)
    rounds = args.repeats or (1 if args.quick else 3)
    budget = args.budget or (0.3 if args.quick else 4.0)

    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.devices()[0].device_kind}), "
          f"{os.cpu_count()} CPUs; best of >= {rounds} interleaved rounds of one epoch each ({budget:g} s per contestant)")
    try:
        import torch

        global TORCH_THREADS
        TORCH_THREADS = torch.get_num_threads()
        print(f"torch {torch.__version__}, {TORCH_THREADS} intra-op threads by default")
    except ImportError:
        print("PyTorch: not installed, skipped (pip install torch to compare)")
    load0 = os.getloadavg()
    peak = MatmulPeak(512 if args.quick else 2048)
    peak.sample(3 if args.quick else 10)
    peak16 = MatmulPeak(512 if args.quick else 2048, jnp.bfloat16)
    peak16.sample(3 if args.quick else 10)

    header = f"{'workload':44} {'contestant':16} {'examples/s':>12} {'GFLOP/s':>8} {'% peak':>7}  fnn[bp] / this  fnn[ad] / this"
    results = [(w, bench_row(w, rounds, budget, peak)) for w in workloads(args.quick)]
    peak.sample(3 if args.quick else 10)
    print(f"float32 matmul peak (jitted jnp.dot of {peak.n}x{peak.n} matrices, best sample): {peak.best:.1f} GFLOP/s; "
          f"bfloat16: {peak16.best:.1f} GFLOP/s (the bf16 row's % peak is of the bf16 peak)")
    print(f"load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f} "
          f"(on a shared machine the peers' rows are comparable, the absolute numbers less so)\n")
    print(header)
    print("-" * len(header))
    for w, best in results:
        for k, v in best.items():
            gflops = v * w.flops_per_example / 1e9
            ratio_bp = best["fnn[backprop]"] / v
            ratio_ad = best["fnn[autodiff]"] / v
            ref = peak16.best if k.endswith("bf16") else peak.best
            print(f"{w.name:44} {k:16} {v:12,.0f} {gflops:8.1f} {100 * gflops / ref:6.1f}%  "
                  f"{ratio_bp:14.2f}x {ratio_ad:14.2f}x")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
