"""Torch threads on a 2-core CPU: fit time with 1 and 2 threads, quiet and busy.

Fits the default ConvAutoEncoder and InfoTheoreticAD (2,000 Fashion-MNIST
images of class 0, one epoch, seed 0) with one and with two torch threads,
first on a quiet machine, then while another process keeps one core busy (a
pure-Python loop, standing in for any other work on the machine). Each
setting runs in a fresh process, ``--repeats`` times, alternating the
settings; the report gives the median fit seconds and their ratios.

    python benchmarks/threads.py              # writes docs/benchmarks/threads.md
    python benchmarks/threads.py --quick      # smoke run, prints
"""

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(HERE), "docs", "benchmarks", "threads.md")

FIT = """
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from skanomaly import ConvAutoEncoder, InfoTheoreticAD
from skanomaly.datasets import fetch_fashion_mnist
train = fetch_fashion_mnist(subset="train")
X = train.images[train.target == 0][: int(sys.argv[3])]
cls = {"ConvAutoEncoder": ConvAutoEncoder, "InfoTheoreticAD": InfoTheoreticAD}
detector = cls[sys.argv[2]](max_epochs=1, device="cpu", random_state=0)
start = time.perf_counter()
detector.fit(X)
print(json.dumps({"fit_s": time.perf_counter() - start}))
"""


def _burn(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def fit_seconds(detector, threads, n_images):
    out = subprocess.run(
        [sys.executable, "-c", FIT, str(threads), detector, str(n_images)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["fit_s"]


def measure(detectors, repeats, n_images):
    times = {}
    for load in ("quiet", "one core busy"):
        stop = multiprocessing.Event()
        burner = None
        if load != "quiet":
            burner = multiprocessing.Process(target=_burn, args=(stop,))
            burner.start()
            time.sleep(1)
        try:
            for _ in range(repeats):
                for detector in detectors:
                    for threads in (1, 2):
                        seconds = fit_seconds(detector, threads, n_images)
                        times.setdefault((detector, load, threads), []).append(seconds)
                        print(
                            f"{detector} {load} {threads} thread(s): {seconds:.1f} s",
                            file=sys.stderr,
                        )
        finally:
            stop.set()
            if burner is not None:
                burner.join()
    return times


def report(times, detectors, repeats, n_images, wall):
    rows = []
    for detector in detectors:
        for load in ("quiet", "one core busy"):
            one = statistics.median(times[(detector, load, 1)])
            two = statistics.median(times[(detector, load, 2)])
            rows.append(
                [detector, load, f"{one:.1f}", f"{two:.1f}", f"{two / one:.2f}"]
            )
    lines = [
        "# Torch threads on a 2-core CPU",
        "",
        *environment_lines("python benchmarks/threads.py", wall),
        f"- One epoch over {n_images} Fashion-MNIST images of class 0 at the "
        "detector's defaults, seed 0; each fit in a fresh process; median of "
        f"{repeats} runs, settings alternating. 'one core busy': another "
        "process runs a pure-Python loop on one core meanwhile.",
        "",
        markdown_table(
            [
                "detector",
                "machine",
                "fit s, 1 thread",
                "fit s, 2 threads",
                "2 threads / 1 thread",
            ],
            rows,
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    detectors = ["ConvAutoEncoder", "InfoTheoreticAD"]
    n_images, repeats = (200, 1) if args.quick else (2000, args.repeats)
    start = time.perf_counter()
    times = measure(detectors, repeats, n_images)
    text = report(times, detectors, repeats, n_images, time.perf_counter() - start)
    if args.quick:
        print(text)
        return
    publish(text, DOC)


if __name__ == "__main__":
    main()
