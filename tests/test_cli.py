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
