"""Tests of the command line."""

import subprocess
import sys

import pytest

from skanomaly import DETECTORS
from skanomaly.cli import demo_detectors, main


def test_demo_prints_a_table_for_every_detector(capsys):
    """Check that the demo prints ROC AUC and timing rows for each detector."""
    assert main(["demo", "--classes", "0"]) == 0
    out = capsys.readouterr().out
    assert "| detector" in out and "ROC AUC" in out
    for name in demo_detectors():
        assert f"| {name}" in out
    # every exported detector takes part in the demo
    for cls in DETECTORS:
        assert cls.__name__ in out


@pytest.mark.parametrize("classes", ["x", "10", ""])
def test_demo_rejects_bad_classes(classes, capsys):
    """Check that an invalid --classes exits with code 2 and says what is expected."""
    with pytest.raises(SystemExit) as info:
        main(["demo", "--classes", classes])
    assert info.value.code == 2
    assert "classes" in capsys.readouterr().err


def test_module_entry_point_help():
    """Check that python -m skanomaly --help works and lists the demo."""
    result = subprocess.run(
        [sys.executable, "-m", "skanomaly", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo" in result.stdout


def test_no_command_prints_help(capsys):
    """Check that running without a command prints help and returns 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_version(capsys):
    """Check that --version prints the package version and exits with 0."""
    import skanomaly

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skanomaly {skanomaly.__version__}"


def test_demo_columns_survive_long_fits(monkeypatch, capsys):
    """Check that fit times over 999 s keep the demo's columns aligned."""
    from skanomaly import cli

    clock = iter(range(0, 10**6, 1500))
    monkeypatch.setattr(cli.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(
        cli,
        "demo_detectors",
        lambda random_state=0: {"KNN": demo_detectors()["PyOD KNN (pixels)"]},
    )
    cli.run_demo(classes=[0])
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("|")]
    assert len(lines) == 3 and len({len(line) for line in lines}) == 1
    assert "1500.0" in lines[2]
    # progress inside each detector goes to stderr, class by class
    assert "KNN: class 0 (1 of 1)" in captured.err


def test_demo_threads_option_is_applied_and_restored(monkeypatch, capsys):
    """Check that --threads sets torch's threads for the demo and restores them."""
    import torch

    from skanomaly import cli

    seen = []
    monkeypatch.setattr(
        cli,
        "run_demo",
        lambda classes, random_state: seen.append(torch.get_num_threads()),
    )
    before = torch.get_num_threads()
    assert main(["demo", "--classes", "0", "--threads", "1"]) == 0
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(SystemExit):
        main(["demo", "--threads", "0"])
    assert "positive integer" in capsys.readouterr().err


def test_demo_skips_detectors_whose_packages_are_missing(monkeypatch, capsys):
    """Check that a detector without its optional packages leaves the demo, with why."""
    from skanomaly import PatchCore
    from skanomaly.cli import demo_detectors

    monkeypatch.setattr(
        PatchCore, "_missing_dependencies", classmethod(lambda cls: "needs X")
    )
    names = demo_detectors()
    assert "PatchCore" not in names and "ConvAutoEncoder" in names
    assert "skipping PatchCore: needs X" in capsys.readouterr().err
