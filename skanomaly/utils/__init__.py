"""Utilities for people who write detectors: :mod:`.estimator_checks`."""
