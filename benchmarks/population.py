"""Populations: P training runs at once (fnn.train.fit_population) beside their peers, in one process.

Run from the repository root::

    python benchmarks/population.py           # a few minutes on 2 CPU cores
    python benchmarks/population.py --quick   # seconds: a smoke test
    PYTHONPATH=. /path/to/venv-with-torch/bin/python benchmarks/population.py   # with PyTorch

Workloads (random data of MNIST's shape): ``784-30-10`` sigmoid, quadratic
cost, SGD ``eta = 3`` (Nielsen's recipe) with mini-batches of ``m = 10`` and
``m = 100``; with ``--adam`` also ``784-100-10`` ReLU / softmax, Adam, ``m = 64``.
P in {1, 8, 32, 128, 512} members.

Contestants; each number is the *aggregate* examples per second of all P
members together (P x examples per epoch / seconds), best of interleaved
rounds of one epoch each:

* ``fit_population``: the compiled population epoch that
  :func:`fnn.train.fit_population` runs with its defaults (``default_threads``
  concurrent parts of the members, one host thread each; in a part, groups of
  ``default_chunk``; each member its own data order), with its per-epoch
  transfer of the metrics to the host;
* ``one vmap group``: the same with ``chunk=P`` and one thread (all members in
  one vmap: their parameters and optimizer states leave the cache past P of
  about 32);
* ``shared order``: ``data_order="shared"`` (every member the same mini-batch;
  the first layer one wide product per group), default parts and groups;
* ``shared, 1 thread``: the same with ``threads=1``: one program, as the
  references below run;
* ``plain JAX wide``: the shared order written by hand for this network
  (forward and backward of both layers inline, the first layer's product and
  weight gradient as single products over a group, ``lax.map`` over the
  groups, ``sigma' = z (1 - z)``), in one thread with the groups of
  ``shared, 1 thread`` — the reference for fnn's shared order;
* ``wide, precise``: the same with ``sigma' = sigma(a) sigma(-a)``, the
  relative precision in saturation that fnn's ``sigma'`` keeps;
* ``plain JAX vmap``: a vmapped scanned epoch written inline here
  (``jax.value_and_grad``, the optimizer by hand, each member's mini-batches
  gathered inside the scan, one group) — what a JAX user would write without fnn;
* ``P x fit``: the same P runs as sequential :func:`fnn.train.fit` epochs
  (one compiled ``lax.scan`` each). The members cost the same, so their
  aggregate rate is one run's rate; it is measured on one run;
* ``P x PyTorch``, ``torch.func.vmap``: the eager loop run P times, and the P
  members in one eager loop with ``torch.func.vmap`` (only when ``torch`` is
  importable; not a dependency).

Also printed: the device kind, the float32 matmul peak measured in the same
run (:class:`benchmarks.train.MatmulPeak`) and each contestant's fraction of
it (FLOPs counted for the matrix products only), the threads and groups
fnn's defaults chose, the ratios of ``fit_population`` and ``shared order`` to
``P x fit``, of ``shared, 1 thread`` to ``plain JAX wide`` and to ``wide,
precise`` (the same program layout: what fnn's generality costs) and of
``shared order`` to ``plain JAX wide``, and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from fnn import nn, optim  # noqa: E402
from fnn import train as fnn_train  # noqa: E402
from fnn.train import _population, _setup  # noqa: E402  (the programs fit_population runs)

_spec = importlib.util.spec_from_file_location("bench_train", os.path.join(ROOT, "benchmarks", "train.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
Workload, MatmulPeak, make_data, init_params = bench.Workload, bench.MatmulPeak, bench.make_data, bench.init_params


def workloads(quick: bool, adam: bool) -> list[Workload]:
    n1, n2, n3 = (200, 400, 256) if quick else (1000, 2000, 2048)
    out = [
        Workload("784-30-10 sigmoid/quadratic SGD m=10", (784, 30, 10), "sigmoid", "sigmoid", "quadratic",
                 "sgd", 3.0, 10, n1),
        Workload("784-30-10 sigmoid/quadratic SGD m=100", (784, 30, 10), "sigmoid", "sigmoid", "quadratic",
                 "sgd", 3.0, 100, n2),
    ]
    if adam:
        out.append(Workload("784-100-10 relu/softmax Adam m=64", (784, 100, 10), "relu", "softmax",
                            "log_likelihood", "adam", 1e-3, 64, n3))
    return out


def _net_opt(w: Workload):
    net = nn.MLP(w.sizes, hidden=w.hidden, output=w.output)
    return net, (optim.gd(w.rate) if w.opt == "sgd" else optim.adam(w.rate))  # gd on mini-batches is SGD


# --------------------------------------------------------------------------
# contestants: each returns run() -> examples processed by all members (blocking)


def fnn_population(w: Workload, x, y, p: int, chunk: int | None = None, data_order: str = "member",
                   threads: int | None = None) -> Callable[[], int]:
    """The population epoch fit_population compiles and runs (unguarded: its fast path), and its
    per-epoch transfer of the metrics and of whether each member stayed finite."""
    net, opt = _net_opt(w)
    keys = jax.random.split(jax.random.key(0), p)
    states = fnn_train.init_population(net, opt, keys)
    if data_order == "shared":
        states = states._replace(key=jnp.stack([states.key[0]] * p))
    threads = _population.default_threads(p, None) if threads is None else threads
    chunk = _population.default_chunk(states, p, w.batch, data_order, threads) if chunk is None else chunk
    s = _setup.make_setup(net, w.cost, opt, batch_size=w.batch)
    frozen = jnp.full((p,), -1, jnp.int32)
    xd, yd = jax.device_put(x), jax.device_put(y)
    compiled, _ = _population.compiled_epoch(s, False, chunk, p, data_order, threads, states, frozen, xd, yd)
    box = [states, frozen]
    nb = w.n // w.batch

    def run() -> int:
        box[0], box[1], metrics, finite = compiled(box[0], box[1], xd, yd)
        np.asarray(metrics.cost), np.asarray(finite)  # fit_population's per-epoch transfer
        return p * nb * w.batch

    return run


def plain_jax_wide(w: Workload, x, y, p: int, chunk: int = 32, precise: bool = False) -> Callable[[], int] | None:
    """The shared data order by hand for a one-hidden-layer sigmoid network with the quadratic cost and
    SGD: groups of ``chunk`` members, the first layer's product and weight gradient one product each.

    ``sigma'`` is ``z (1 - z)`` from the forward pass's ``z`` (what one writes by hand; it rounds to 0
    where ``a > ~17`` in float32), or with ``precise`` ``sigma(a) sigma(-a)`` (``jax.grad``'s rule for
    ``jax.nn.sigmoid``; fnn keeps the same relative precision as ``z (1 - z)`` with ``1 - z = e^-a z``
    where ``a > 0``)."""
    if len(w.sizes) != 3 or w.opt != "sgd" or w.cost != "quadratic" or w.hidden != "sigmoid":
        return None
    m, nb = w.batch, w.n // w.batch
    c = min(chunk, p)
    while p % c:
        c -= 1
    (W1, b1), (W2, b2) = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init_params(w)]
    stack = lambda a: jnp.stack([a] * p).reshape((p // c, c) + a.shape)  # noqa: E731
    params = tuple(stack(a) for a in (W1, b1, W2, b2))
    n0, n1, k = w.sizes
    if precise:
        deriv = lambda a, z: jax.nn.sigmoid(a) * jax.nn.sigmoid(-a)  # noqa: E731
    else:
        deriv = lambda a, z: z * (1 - z)  # noqa: E731

    def group_epoch(q, idx, x, y):
        def step(q, i):
            W1, b1, W2, b2 = q
            xb, t = jnp.take(x, i, axis=0), jax.nn.one_hot(jnp.take(y, i, axis=0), k, dtype=x.dtype)
            a1 = (xb @ W1.reshape(c * n1, n0).T).reshape(m, c, n1) + b1
            z1 = jax.nn.sigmoid(a1)
            a2 = jnp.einsum("mcj,ckj->mck", z1, W2) + b2
            z2 = jax.nn.sigmoid(a2)
            d2 = (z2 - t[:, None, :]) * deriv(a2, z2) / m
            d1 = jnp.einsum("mck,ckj->mcj", d2, W2) * deriv(a1, z1)
            g = ((d1.reshape(m, c * n1).T @ xb).reshape(c, n1, n0), d1.sum(0),
                 jnp.einsum("mck,mcj->ckj", d2, z1), d2.sum(0))
            cost = 0.5 * jnp.sum((z2 - t[:, None, :]) ** 2, axis=(0, 2)) / m
            return tuple(a - w.rate * b for a, b in zip(q, g)), cost

        return jax.lax.scan(step, q, idx)

    def epoch(params, key, x, y):
        idx = jax.random.permutation(key, x.shape[0])[: nb * m].reshape(nb, m)
        return jax.lax.map(lambda q: group_epoch(q, idx, x, y), params)

    epoch = jax.jit(epoch, donate_argnums=(0,))
    xd, yd = jax.device_put(x), jax.device_put(y)
    box = [params, jax.random.key(0)]

    def run() -> int:
        box[1], sub = jax.random.split(box[1])
        box[0], costs_ = epoch(box[0], sub, xd, yd)
        np.asarray(costs_)
        return p * nb * m

    return run


def fnn_sequential(w: Workload, x, y) -> Callable[[], int]:
    """One fit run's epoch (donating, as fit does); P sequential runs have this aggregate rate."""
    net, opt = _net_opt(w)
    state = fnn_train.init_state(net, opt, jax.random.key(0))
    epoch = fnn_train.make_epoch(net, w.cost, opt, w.batch, donate=True)
    xd, yd = jax.device_put(x), jax.device_put(y)
    box = [state]
    nb = w.n // w.batch

    def run() -> int:
        box[0], metrics = epoch(box[0], xd, yd)
        np.asarray(metrics.cost)
        return nb * w.batch

    return run


def plain_jax_vmap(w: Workload, x, y, p: int) -> Callable[[], int]:
    """A vmapped scanned epoch written by hand: value_and_grad, SGD/Adam inline, gathers in the scan."""
    m, nb = w.batch, w.n // w.batch
    one = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init_params(w)]
    params = jax.tree_util.tree_map(lambda a: jnp.stack([a] * p), one)
    loss, init, update = bench.plain_parts(w)

    def member_epoch(params, s, key, x, y):
        idx = jax.random.permutation(key, x.shape[0])[: nb * m].reshape(nb, m)

        def step(carry, i):
            q, s = carry
            value, grads = jax.value_and_grad(loss)(q, jnp.take(x, i, axis=0), jnp.take(y, i, axis=0))
            return update(q, grads, s), value

        return jax.lax.scan(step, (params, s), idx)

    s = jax.vmap(init)(params)
    epoch = jax.jit(jax.vmap(member_epoch, in_axes=(0, 0, 0, None, None)), donate_argnums=(0, 1))
    xd, yd = jax.device_put(x), jax.device_put(y)
    box = [params, s, jax.random.key(0)]

    def run() -> int:
        box[2], sub = jax.random.split(box[2])
        (box[0], box[1]), costs_ = epoch(box[0], box[1], jax.random.split(sub, p), xd, yd)
        np.asarray(costs_)
        return p * nb * m

    return run


def torch_vmap(w: Workload, x, y, p: int) -> Callable[[], int] | None:
    """P members in one eager loop: torch.func.vmap(torch.func.grad(loss)) over stacked parameters."""
    try:
        import torch
        from torch.func import functional_call, grad, vmap
    except ImportError:
        return None
    layers = []
    for l, (W, b) in enumerate(init_params(w)):
        layers.append(torch.nn.Linear(W.shape[1], W.shape[0]))
        if l < len(w.sizes) - 2:
            layers.append(torch.nn.ReLU() if w.hidden == "relu" else torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    names = [n for n, _ in model.named_parameters()]
    params = {n: q.detach().unsqueeze(0).repeat(p, *[1] * q.ndim) for n, q in model.named_parameters()}
    eye = torch.eye(w.sizes[-1])

    def loss(ps, xb, yb):
        a = functional_call(model, ps, (xb,))
        if w.cost == "quadratic":
            return 0.5 * ((torch.sigmoid(a) - eye[yb]) ** 2).sum(dim=1).mean()
        return torch.nn.functional.cross_entropy(a, yb)

    g = vmap(grad(loss))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    m, nb = w.batch, w.n // w.batch
    adam = {n: (torch.zeros_like(v), torch.zeros_like(v)) for n, v in params.items()}
    step_no = [0]

    def run() -> int:
        perms = torch.stack([torch.randperm(w.n)[: nb * m] for _ in range(p)])  # (P, nb*m)
        with torch.no_grad():
            for i in range(nb):
                idx = perms[:, i * m : (i + 1) * m]
                grads = g(params, xt[idx], yt[idx])
                step_no[0] += 1
                for n in names:
                    if w.opt == "sgd":
                        params[n].sub_(w.rate * grads[n])
                    else:
                        mu, nu = adam[n]
                        mu.mul_(0.9).add_(grads[n], alpha=0.1)
                        nu.mul_(0.999).addcmul_(grads[n], grads[n], value=0.001)
                        c1, c2 = 1 - 0.9 ** step_no[0], 1 - 0.999 ** step_no[0]
                        params[n].sub_(w.rate * (mu / c1) / ((nu / c2).sqrt() + 1e-8))
        return p * nb * m

    return run


# --------------------------------------------------------------------------


def best_rates(contestants: dict[str, Callable[[], int]], budget_s: float, min_rounds: int) -> dict[str, float]:
    """Best examples/s of each contestant over interleaved rounds (warm-up first; rounds sized per contestant)."""
    rounds = {}
    for k, f in contestants.items():
        f()
        t0 = time.perf_counter()
        f()
        rounds[k] = min(30, max(min_rounds, int(budget_s / (time.perf_counter() - t0))))
    best = {k: 0.0 for k in contestants}
    for r in range(max(rounds.values())):
        for k, f in contestants.items():
            if r < rounds[k]:
                t0 = time.perf_counter()
                done = f()
                best[k] = max(best[k], done / (time.perf_counter() - t0))
    return best


def defaults(w: Workload, p: int) -> str:
    """The threads and groups fit_population picks for ``p`` members, each order."""
    net, opt = _net_opt(w)
    states = fnn_train.init_population(net, opt, jax.random.split(jax.random.key(0), p))
    t = _population.default_threads(p, None)
    c = {o: min(_population.default_chunk(states, p, w.batch, o, t), p // t) for o in _population.DATA_ORDERS}
    return f"{t} thread(s); groups of {c['member']} (member order), {c['shared']} (shared)"


def contestants_for(w: Workload, x, y, p: int, torch_ok: bool) -> dict[str, Callable[[], int]]:
    out = {
        "fit_population": fnn_population(w, x, y, p),
        "one vmap group": fnn_population(w, x, y, p, chunk=p, threads=1),
        "shared order": fnn_population(w, x, y, p, data_order="shared"),
        "shared, 1 thread": fnn_population(w, x, y, p, data_order="shared", threads=1),
        "plain JAX vmap": plain_jax_vmap(w, x, y, p),
    }
    net, opt = _net_opt(w)
    one_thread = _population.default_chunk(fnn_train.init_population(net, opt, jax.random.split(jax.random.key(0), p)),
                                           p, w.batch, "shared")
    wide = plain_jax_wide(w, x, y, p, chunk=one_thread)
    if wide is not None:
        out["plain JAX wide"] = wide
        out["wide, precise"] = plain_jax_wide(w, x, y, p, chunk=one_thread, precise=True)
    tv = torch_vmap(w, x, y, p) if torch_ok else None
    if tv is not None:
        out["torch.func.vmap"] = tv
    return out


def print_table(rows: list, peak: float) -> None:
    head = f"{'workload':40} {'P':>4} {'contestant':16} {'examples/s':>12} {'% peak':>7}"
    print(head)
    print("-" * len(head))
    for w, p, best in rows:
        for k, v in best.items():
            pct = 100 * v * w.flops_per_example / 1e9 / peak
            print(f"{w.name:40} {p:4d} {k:16} {v:12,.0f} {pct:6.1f}%")
        print()
    print("ratios: fit_population / P x fit, shared order / P x fit, shared 1 thread / plain JAX wide, "
          "shared 1 thread / wide, precise, shared order / plain JAX wide, fit_population / one vmap group")
    for w, p, best in rows:
        r = lambda a, b: best[a] / best[b] if a in best and b in best else float("nan")  # noqa: E731
        print(f"{w.name:40} {p:4d} {r('fit_population', 'P x fit'):6.2f}x {r('shared order', 'P x fit'):6.2f}x "
              f"{r('shared, 1 thread', 'plain JAX wide'):6.2f}x {r('shared, 1 thread', 'wide, precise'):6.2f}x "
              f"{r('shared order', 'plain JAX wide'):6.2f}x {r('fit_population', 'one vmap group'):6.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny epochs and P in {1, 8, 32}: a smoke test")
    ap.add_argument("--adam", action="store_true", help="also the 784-100-10 Adam workload")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timing per contestant and row (default 2)")
    ap.add_argument("--repeats", type=int, default=None, help="minimum rounds per contestant (default 3)")
    ap.add_argument("--populations", default=None, help="comma-separated P values (default 1,8,32,128,512)")
    args = ap.parse_args(argv)
    budget = args.budget or (0.2 if args.quick else 2.0)
    min_rounds = args.repeats or (1 if args.quick else 3)
    sizes = [int(s) for s in (args.populations or ("1,8,32" if args.quick else "1,8,32,128,512")).split(",")]
    dev = jax.devices()[0]
    print(f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}), {os.cpu_count()} CPUs; "
          f"best of >= {min_rounds} interleaved rounds ({budget:g} s per contestant)")
    try:
        import torch

        torch_threads = torch.get_num_threads()
        print(f"torch {torch.__version__}, {torch_threads} intra-op threads")
    except ImportError:
        torch = None
        print("PyTorch: not installed, its rows are skipped")
    load0 = os.getloadavg()
    peak = MatmulPeak(512 if args.quick else 2048)
    peak.sample(3 if args.quick else 10)
    rows = []
    for w in workloads(args.quick, args.adam):
        x, y = make_data(w)
        single = {"P x fit": fnn_sequential(w, x, y)}  # one run; interleaved in every row (the load drifts)
        if torch is not None:
            single["P x PyTorch"] = bench.torch_epoch(w, x, y, torch_threads)
        for p in sizes:
            best = best_rates({**contestants_for(w, x, y, p, torch is not None), **single}, budget, min_rounds)
            rows.append((w, p, best))
            peak.sample(1)
            print(f"  {w.name} P={p} ({defaults(w, p)}): " + ", ".join(f"{k} {v:,.0f}" for k, v in best.items()),
                  flush=True)
    print(f"\nfloat32 matmul peak (jitted jnp.dot of {peak.n}x{peak.n}, best sample): {peak.best:.1f} GFLOP/s")
    print(f"load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f}\n")
    print_table(rows, peak.best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
