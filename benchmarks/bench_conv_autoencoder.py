"""Throughput of ConvAutoEncoder against a plain PyTorch loop and PyOD.

Three contenders are trained and scored on the same Fashion-MNIST one-class
task (one class normal, every other class anomalous):

* ``skanomaly ConvAutoEncoder`` -- :class:`skanomaly.ConvAutoEncoder` with its
  default architecture, trained through its private skorch net;
* ``plain PyTorch loop`` -- the same :class:`ConvAutoEncoderModule`, Adam,
  MSE and batch size, trained by a hand-written loop over a shuffled
  ``DataLoader`` and scored by a batched loop under
  :func:`torch.inference_mode`; seeded as skanomaly seeds its fit, it sees the
  same initial weights and batches and computes the very same losses and
  scores, so any difference in time is the wrapper's;
* ``PyOD AutoEncoder`` -- :class:`pyod.models.auto_encoder.AutoEncoder`, a
  dense autoencoder on the flattened pixels with about as many weights as the
  convolutional one (and about 90 times less computation per image).

For each, the median over ``--repeats`` runs (the order of the contenders
rotates from run to run) of the training throughput (training images x epochs
per second of the training loop itself), the scoring throughput (test images
per second of ``decision_function``), the wall time of ``fit`` and the test
ROC AUC are written to a Markdown file. The overhead of the skorch-based
wrapper over the plain loop is given from those runs and from ``--pairs``
short back-to-back pairs of fits, which cancel most of the slow drifts in
machine speed that long runs suffer from on shared machines.

Usage::

    python benchmarks/bench_conv_autoencoder.py            # full run, ~7 min
    python benchmarks/bench_conv_autoencoder.py --quick    # smoke run, < 30 s

``--quick`` prints the report without writing it unless ``--out`` is given,
so that a smoke run does not overwrite the committed report.
"""

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyod
import skorch
import torch
import torch.nn.functional as F
from pyod.models.auto_encoder import AutoEncoder
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from skorch.callbacks import Callback

import skanomaly
from skanomaly import ConvAutoEncoder
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split
from skanomaly.detectors._torch_utils import init_parameters_
from skanomaly.detectors.conv_autoencoder import ConvAutoEncoderModule

DEFAULT_OUT = Path("docs/benchmarks/conv_autoencoder_throughput.md")

#: Sizes of the full and of the quick run.
FULL = {"n_train": 6000, "n_test": 2000, "epochs": 2, "repeats": 3, "pairs": 10}
QUICK = {"n_train": 128, "n_test": 128, "epochs": 1, "repeats": 1, "pairs": 2}
#: Training and test images of each paired fit (one epoch).
PAIR_TRAIN, PAIR_TEST = 1024, 512

BATCH_SIZE = 64
LR = 1e-3
#: Hidden layers of PyOD's dense autoencoder: 784-320-64-32-64-320-784 has
#: about as many weights as the default ConvAutoEncoder.
PYOD_HIDDEN = [320, 64, 32]

SKANOMALY = "skanomaly ConvAutoEncoder"
PLAIN = "plain PyTorch loop"
PYOD = "PyOD AutoEncoder"
CONTENDERS = (SKANOMALY, PLAIN, PYOD)


def log(message):
    print(message, file=sys.stderr, flush=True)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------- data
def load_task(normal_class, n_train, n_test, seed):
    """Float32 images in [0, 1] of shape (n, 1, 28, 28), and test labels."""
    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    rng = np.random.RandomState(seed)
    test_images, test_target = test.images, test.target
    if n_test < len(test_target):
        keep, _ = train_test_split(
            np.arange(len(test_target)),
            train_size=n_test,
            stratify=test_target,
            random_state=rng,
        )
        test_images, test_target = test_images[keep], test_target[keep]
    X_train, _, X_test, y_test = make_one_class_split(
        train.images,
        train.target,
        normal_class,
        X_test=test_images,
        y_test=test_target,
        random_state=rng,
    )
    if n_train < len(X_train):
        X_train = X_train[np.sort(rng.choice(len(X_train), n_train, replace=False))]

    def scale(X):
        return np.ascontiguousarray((X.astype(np.float32) / 255.0)[:, None])

    return scale(X_train), scale(X_test), y_test


# ---------------------------------------------------------------- machine
def cpu_snapshot():
    """(machine busy CPU s, this process's CPU s, wall s); busy is NaN off Linux."""
    own = os.times()
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        busy = float("nan")
    return busy, own.user + own.system, time.perf_counter()


def others_share(before, after):
    """Share of the machine's CPU time used by other processes in between."""
    busy = after[0] - before[0]
    own = after[1] - before[1]
    wall = after[2] - before[2]
    return max(0.0, (busy - own) / (wall * (os.cpu_count() or 1)))


def wait_until_idle(max_wait, threshold=0.1, window=2.0):
    """Wait up to ``max_wait`` s for other processes to leave the CPU alone."""
    deadline = time.perf_counter() + max_wait
    while time.perf_counter() < deadline:
        before = cpu_snapshot()
        time.sleep(window)
        if not others_share(before, cpu_snapshot()) >= threshold:  # NaN: idle
            return
    log(f"  machine still busy after waiting {max_wait:.0f} s; timing anyway")


def minor_faults():
    """Minor page faults of this process so far (0 where unknown)."""
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


# --------------------------------------------------------------- contenders
class TrainLoopTimer(Callback):
    """Record when skorch's training loop starts and ends (after initialize)."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.begin_ = time.perf_counter()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.end_ = time.perf_counter()


def run_skanomaly(X_train, X_test, epochs, seed):
    detector = ConvAutoEncoder(
        device="cpu",
        random_state=seed,
        max_epochs=epochs,
        batch_size=BATCH_SIZE,
        lr=LR,
        callbacks=[TrainLoopTimer()],
    )
    start = time.perf_counter()
    detector.fit(X_train)
    fit_s = time.perf_counter() - start
    timer = next(
        cb for _, cb in detector.net_.callbacks_ if isinstance(cb, TrainLoopTimer)
    )
    start_score = time.perf_counter()
    scores = detector.decision_function(X_test)
    score_s = time.perf_counter() - start_score
    return {
        "train_s": timer.end_ - timer.begin_,
        "epochs_dur_s": float(sum(detector.history_[:, "dur"])),
        "before_train_s": timer.begin_ - start,
        "after_train_s": start + fit_s - timer.end_,
        "fit_s": fit_s,
        "score_s": score_s,
        "scores": scores,
        "final_loss": float(detector.history_[-1, "train_loss"]),
        "n_params": n_params(detector.module_),
    }


def plain_train(X_train, epochs, seed):
    """Train a ConvAutoEncoderModule by hand; returns it and the timings.

    skanomaly draws an int seed from ``random_state``, splits it into the
    seeds of the fit's own generators (initial weights, batch order), draws
    the module's weights from the first and shuffles the training images
    with the second. Doing the same here gives the same initial weights and
    the same batches in the same order, so that both do the same arithmetic
    (the report compares their final losses and scores).
    """
    start = time.perf_counter()
    fit_seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
    draws, shuffle, _ = np.random.SeedSequence(fit_seed).generate_state(3)
    with torch.device("meta"):
        module = ConvAutoEncoderModule(1, X_train.shape[2:])
    module = init_parameters_(
        module.to_empty(device="cpu"), torch.Generator().manual_seed(int(draws))
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=LR)
    n = len(X_train)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X_train)),
        batch_size=BATCH_SIZE,
        shuffle=True,
        generator=torch.Generator().manual_seed(int(shuffle)),
        # as skanomaly: drop a last batch of one image (batch norm needs two)
        drop_last=n > BATCH_SIZE and n % BATCH_SIZE == 1,
    )
    module.train()
    start_train = time.perf_counter()
    for _ in range(epochs):
        losses = []
        for (batch,) in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(module(batch), batch)
            loss.backward()
            optimizer.step()
            losses.append((loss.item(), len(batch)))
    train_s = time.perf_counter() - start_train
    return module, {
        "start": start,
        "train_s": train_s,
        "final_loss": sum(v * k for v, k in losses) / sum(k for _, k in losses),
        "n_params": n_params(module),
    }


def plain_score(module, X_test):
    """Per-image mean squared reconstruction error, batch by batch."""
    X = torch.from_numpy(X_test)
    module.eval()
    scores = []
    with torch.inference_mode():
        for first in range(0, len(X), BATCH_SIZE):
            batch = X[first : first + BATCH_SIZE]
            scores.append((module(batch) - batch).pow(2).mean(dim=(1, 2, 3)))
    return torch.cat(scores).numpy().astype(np.float64)


def run_plain(X_train, X_test, epochs, seed):
    module, result = plain_train(X_train, epochs, seed)
    # the rest of what skanomaly's fit does: score the training images once.
    plain_score(module, X_train)
    result["fit_s"] = time.perf_counter() - result.pop("start")
    start = time.perf_counter()
    result["scores"] = plain_score(module, X_test)
    result["score_s"] = time.perf_counter() - start
    return result


class TimedPyODAutoEncoder(AutoEncoder):
    """PyOD's AutoEncoder, timing its training loop (``train``) alone."""

    def train(self, train_loader):
        start = time.perf_counter()
        super().train(train_loader)
        self.train_s_ = time.perf_counter() - start


def make_pyod(epochs, seed):
    return TimedPyODAutoEncoder(
        preprocessing=False,
        lr=LR,
        epoch_num=epochs,
        batch_size=BATCH_SIZE,
        device="cpu",
        random_state=seed,
        verbose=0,
        hidden_neuron_list=PYOD_HIDDEN,
    )


def run_pyod(X_train, X_test, epochs, seed):
    flat_train = X_train.reshape(len(X_train), -1)
    flat_test = X_test.reshape(len(X_test), -1)
    detector = make_pyod(epochs, seed)
    start = time.perf_counter()
    detector.fit(flat_train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = detector.decision_function(flat_test)
    score_s = time.perf_counter() - start
    return {
        "train_s": detector.train_s_,
        "fit_s": fit_s,
        "score_s": score_s,
        "scores": scores,
        "n_params": n_params(detector.model),
    }


RUNNERS = {SKANOMALY: run_skanomaly, PLAIN: run_plain, PYOD: run_pyod}


def warm_up(X_train, X_test, seed):
    """One untimed epoch of the plain loop, plus tiny runs of every contender."""
    module, _ = plain_train(X_train, 1, seed)
    plain_score(module, X_test[: 2 * BATCH_SIZE])
    small = X_train[: 4 * BATCH_SIZE]
    ConvAutoEncoder(
        device="cpu", random_state=seed, max_epochs=1, batch_size=BATCH_SIZE
    ).fit(small).decision_function(X_test[:BATCH_SIZE])
    flat = small.reshape(len(small), -1)
    make_pyod(1, seed).fit(flat).decision_function(flat)


def timed(name, X_train, X_test, epochs, seed, wait_idle):
    if wait_idle > 0:
        wait_until_idle(wait_idle)
    before, faults = cpu_snapshot(), minor_faults()
    result = RUNNERS[name](X_train, X_test, epochs, seed)
    result["faults"] = minor_faults() - faults
    result["others"] = others_share(before, cpu_snapshot())
    return result


def paired_ratios(X_train, X_test, seed, pairs, wait_idle):
    """skanomaly / plain time ratios of back-to-back one-epoch fits."""
    X_train, X_test = X_train[:PAIR_TRAIN], X_test[:PAIR_TEST]
    ratios = {"train_s": [], "score_s": [], "fit_s": [], "others": []}
    for pair in range(pairs):
        names = (SKANOMALY, PLAIN) if pair % 2 == 0 else (PLAIN, SKANOMALY)
        if wait_idle > 0:
            wait_until_idle(wait_idle)
        runs = {name: timed(name, X_train, X_test, 1, seed, 0) for name in names}
        for key in ("train_s", "score_s", "fit_s"):
            ratios[key].append(runs[SKANOMALY][key] / runs[PLAIN][key])
        ratios["others"].append(max(run["others"] for run in runs.values()))
        log(
            f"pair {pair + 1}/{pairs}: skanomaly/plain training loop "
            f"{ratios['train_s'][-1]:.3f}, scoring {ratios['score_s'][-1]:.3f}, "
            f"fit {ratios['fit_s'][-1]:.3f}"
        )
    return ratios, len(X_train), len(X_test)


# ------------------------------------------------------------------- report
def median(runs, key):
    return statistics.median(run[key] for run in runs)


def summarize(results, n_train, n_test, epochs):
    summary = {}
    for name, runs in results.items():
        summary[name] = {
            "train_ips": statistics.median(
                n_train * epochs / run["train_s"] for run in runs
            ),
            "score_ips": statistics.median(n_test / run["score_s"] for run in runs),
            "fit_s": median(runs, "fit_s"),
            "auc": median(runs, "auc"),
            "n_params": runs[0]["n_params"],
        }
    return summary


def percent(ratio):
    return 100.0 * (ratio - 1.0)


def quartiles(values):
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{percent(q2):+.1f}% (quartiles {percent(q1):+.1f}% to {percent(q3):+.1f}%)"


def render(args, sizes, results, paired, elapsed, contention):
    n_train, n_test, n_normal, epochs, repeats = sizes
    summary = summarize(results, n_train, n_test, epochs)
    sk, pl = summary[SKANOMALY], summary[PLAIN]
    sk_runs = results[SKANOMALY]
    train_over = percent(pl["train_ips"] / sk["train_ips"])
    score_over = percent(pl["score_ips"] / sk["score_ips"])
    fit_over = percent(sk["fit_s"] / pl["fit_s"])
    command = shlex.join(
        ["python", "benchmarks/bench_conv_autoencoder.py", *sys.argv[1:]]
    )
    processor = platform.processor() or platform.machine()
    model = cpu_model()
    lines = [
        "# ConvAutoEncoder throughput: skanomaly vs plain PyTorch vs PyOD",
        "",
        "Generated by `benchmarks/bench_conv_autoencoder.py`; do not edit by hand.",
        "Regenerate with:",
        "",
        "```",
        command,
        "```",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(the run took {elapsed / 60:.1f} min)",
        f"- Machine: {processor}"
        + (f" ({model})" if model else "")
        + f", `os.cpu_count()` = {os.cpu_count()}, "
        f"`torch.get_num_threads()` = {torch.get_num_threads()} "
        "(left as torch sets it), "
        f"{platform.system()} {platform.release()}; CPU only"
        + "".join(
            f"; `{var}={os.environ[var]}`"
            for var in ("GLIBC_TUNABLES", "LD_PRELOAD", "OMP_NUM_THREADS")
            if os.environ.get(var)
        ),
        f"- Versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"skorch {skorch.__version__}, PyOD {pyod.__version__}, "
        f"skanomaly {skanomaly.__version__}",
        f"- Task: Fashion-MNIST one-class, normal class {args.normal_class}; "
        f"{n_train} training images of that class; {n_test} test images "
        f"(stratified draw from the test split, {n_normal} of them normal); "
        "float32 in [0, 1] of shape (n, 1, 28, 28), flattened to (n, 784) for PyOD",
        f"- Settings: {epochs} epoch(s), batch size {BATCH_SIZE}, Adam, "
        f"lr {LR:g}, seed {args.seed}; medians of {repeats} repeat(s), the order "
        "of the contenders rotating between repeats, after one untimed warm-up "
        "epoch",
        f"- Contention: other processes used {100 * contention:.0f}% of the "
        "machine's CPU time over the whole run (from `/proc/stat`; "
        + (
            f"each timed run first waited up to {args.wait_idle:g} s for the "
            "machine to be idle; "
            if args.wait_idle > 0
            else ""
        )
        + "per run in the last section)",
        "",
        "| contender | parameters | training images/s | scoring images/s "
        "| fit s | test ROC AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CONTENDERS:
        s = summary[name]
        lines.append(
            f"| {name} | {s['n_params']:,} | {s['train_ips']:.1f} "
            f"| {s['score_ips']:.1f} | {s['fit_s']:.2f} | {s['auc']:.3f} |"
        )
    lines += [
        "",
        "**Overhead of the skanomaly wrapper over the plain loop** (extra time per "
        "image; the project's goal is under 10%):",
        "",
        f"- from the runs above (ratio of the medians): training {train_over:+.1f}%, "
        f"scoring {score_over:+.1f}%, whole `fit()` {fit_over:+.1f}%;",
    ]
    if paired is not None:
        ratios, n_pair_train, n_pair_test = paired
        lines.append(
            f"- from {len(ratios['train_s'])} back-to-back pairs of one-epoch fits "
            f"on {n_pair_train} training images, scoring {n_pair_test} test images "
            "(median of the per-pair ratios; the pairs cancel slow drifts in "
            f"machine speed): training {quartiles(ratios['train_s'])}, scoring "
            f"{quartiles(ratios['score_s'])}, whole `fit()` "
            f"{quartiles(ratios['fit_s'])}."
        )
    lines += [
        "",
        "## What is measured",
        "",
        "- **training images/s**: training images x epochs divided by the wall "
        "time of the training loop alone. For skanomaly, from skorch's "
        "`on_train_begin` to `on_train_end` (a callback passed through "
        "`callbacks=`), so it excludes input validation, building the module and "
        "the final scoring of the training set; for the plain loop, the epoch "
        "loop; for PyOD, its `train` method.",
        "- **scoring images/s**: test images divided by the wall time of "
        "`decision_function` on the test split; for the plain loop, a batched "
        "loop (batch size 64) under `torch.inference_mode` computing the same "
        "per-image mean squared error.",
        "- **fit s**: wall time of `fit()`, which for skanomaly and PyOD includes "
        "validating the input and scoring the training set (`decision_scores_`). "
        "The plain figure covers the same work: building the module and the "
        "optimizer, the training loop, and scoring the training set once.",
        "- The plain loop (`DataLoader(TensorDataset(X), shuffle=True)`, "
        "`zero_grad`, `mse_loss(module(x), x)`, `backward`, `step`) draws its "
        "initial weights and its batch order from generators seeded as "
        "skanomaly's `fit` seeds its own, so it starts from the same weights "
        "and sees the same batches: both do the same arithmetic. Final "
        f"training loss {median(sk_runs, 'final_loss'):.10f} (skanomaly) and "
        f"{median(results[PLAIN], 'final_loss'):.10f} (plain); largest "
        "difference between their test scores "
        f"{max(r['score_diff'] for r in sk_runs):.1e}.",
        "- **minor page faults** (last table): counted by `getrusage` over each "
        "run. glibc's allocator may hand freed activation buffers back to the "
        "system and fault them in again at the next step; on this machine, runs "
        "with about a million faults were 10-20% slower than runs with few, "
        "whichever contender they hit. In a separate check, running with "
        "`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:"
        "glibc.malloc.trim_threshold=4294967296` removed the faults, and the "
        "wrapper and the plain loop then trained equally fast.",
        f"- PyOD's `AutoEncoder` is dense (784-{'-'.join(map(str, PYOD_HIDDEN))}-"
        f"{'-'.join(map(str, PYOD_HIDDEN[-2::-1]))}-784) with PyOD's default batch "
        "norm, dropout 0.2 and weight decay 1e-5, `preprocessing=False` (the "
        "pixels are already in [0, 1]; PyOD's default z-scoring is turned off so "
        "that every contender sees the same input), `epoch_num` equal to the "
        "epochs above. It has about as many weights as the convolutional "
        "autoencoder but needs about 90 times fewer operations per image, hence "
        "its throughput: it is the tabular baseline, not a like-for-like "
        "comparison.",
        "",
        "## skanomaly's fit, broken down (medians, seconds)",
        "",
        "| before training | training loop | sum of skorch `dur` | after training "
        "| fit |",
        "|---:|---:|---:|---:|---:|",
        f"| {median(sk_runs, 'before_train_s'):.2f} "
        f"| {median(sk_runs, 'train_s'):.2f} "
        f"| {median(sk_runs, 'epochs_dur_s'):.2f} "
        f"| {median(sk_runs, 'after_train_s'):.2f} "
        f"| {median(sk_runs, 'fit_s'):.2f} |",
        "",
        "'before training' is input validation and copy, seeding, building the "
        "module and the skorch net; 'after training' is mostly scoring the "
        f"{n_train} training images.",
        "",
        "## Every run (seconds)",
        "",
        "| repeat | contender | training loop | fit | scoring | ROC AUC "
        "| minor page faults | others' CPU share |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for repeat in range(repeats):
        for name in results[SKANOMALY][repeat]["order"]:
            r = results[name][repeat]
            lines.append(
                f"| {repeat + 1} | {name} | {r['train_s']:.2f} | {r['fit_s']:.2f} "
                f"| {r['score_s']:.2f} | {r['auc']:.3f} | {r['faults']:,} "
                f"| {100 * r['others']:.0f}% |"
            )
    if paired is not None:
        ratios = paired[0]
        lines += [
            "",
            "Paired fits, skanomaly / plain time ratios in order (training loop; "
            "scoring; others' highest CPU share during the pair): "
            + ", ".join(
                f"{t:.3f}; {s:.3f}; {100 * o:.0f}%"
                for t, s, o in zip(
                    ratios["train_s"], ratios["score_s"], ratios["others"]
                )
            )
            + ".",
        ]
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny smoke run ({n_train} train, {n_test} test images, {epochs} "
        "epoch, {repeats} repeat, {pairs} pairs); writes the report only if "
        "--out is given".format(**QUICK),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"Markdown file to write (default: {DEFAULT_OUT}; none with --quick)",
    )
    parser.add_argument("--seed", type=int, default=0, help="default 0")
    parser.add_argument(
        "--normal-class", type=int, default=0, help="Fashion-MNIST class, default 0"
    )
    for name, text in (
        ("n_train", "training images of the normal class"),
        ("n_test", "test images"),
        ("epochs", "training epochs"),
        ("repeats", "timed runs of each contender"),
        ("pairs", "back-to-back pairs of short fits (0: none)"),
    ):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"{text}, default {FULL[name]}",
        )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=None,
        help="before each timed run, wait up to this many seconds until other "
        "processes use under 10%% of the CPU (0: do not wait), default 60, 0 "
        "with --quick",
    )
    args = parser.parse_args(argv)
    for name, default in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.wait_idle is None:
        args.wait_idle = 0.0 if args.quick else 60.0
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    snapshot = cpu_snapshot()

    X_train, X_test, y_test = load_task(
        args.normal_class, args.n_train, args.n_test, args.seed
    )
    n_train, n_test, epochs = len(X_train), len(X_test), args.epochs
    log(
        f"{n_train} train / {n_test} test images, {epochs} epoch(s), "
        f"{args.repeats} repeat(s), {args.pairs} pair(s), torch threads "
        f"{torch.get_num_threads()}; warm-up ..."
    )
    warm_up(X_train, X_test, args.seed)

    results = {name: [] for name in CONTENDERS}
    for repeat in range(args.repeats):
        shift = repeat % len(CONTENDERS)
        order = CONTENDERS[shift:] + CONTENDERS[:shift]
        for name in order:
            result = timed(name, X_train, X_test, epochs, args.seed, args.wait_idle)
            result["auc"] = roc_auc_score(y_test, result["scores"])
            result["order"] = order
            results[name].append(result)
            log(
                f"repeat {repeat + 1}/{args.repeats} {name}: training loop "
                f"{result['train_s']:.2f} s, fit {result['fit_s']:.2f} s, "
                f"scoring {result['score_s']:.2f} s, AUC {result['auc']:.3f}, "
                f"others' CPU share {100 * result['others']:.0f}%"
            )
        sk, pl = results[SKANOMALY][-1], results[PLAIN][-1]
        sk["score_diff"] = float(np.max(np.abs(sk["scores"] - pl["scores"])))
        for name in CONTENDERS:
            del results[name][-1]["scores"]

    paired = None
    if args.pairs > 0:
        paired = paired_ratios(X_train, X_test, args.seed, args.pairs, args.wait_idle)

    report = render(
        args,
        (n_train, n_test, int(np.sum(y_test == 0)), epochs, args.repeats),
        results,
        paired,
        time.perf_counter() - started,
        others_share(snapshot, cpu_snapshot()),
    )
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
