"""Cache keys of benchmark jobs: what a job's result depends on, as a hash.

A key covers the detector's name and parameters, the task, the package
version, the source of the detector's modules and of the data code, so that
a change of any of them runs the job again while documentation edits do not.
"""

import ast
import hashlib
import inspect
import json
import os
import re
import sys

#: Version of the cache's record format and key; raising it invalidates every
#: cached job.
CACHE_FORMAT = 3

#: The package of the detectors, whose top-level modules they all share.
_DETECTORS_FOLDER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "detectors"
)


def _describe_value(value):
    """Stable text for a parameter value, objects with ``get_params`` included.

    scikit-learn's repr shows a skorch callback as ``<EarlyStopping object>``:
    its own parameters would not reach the cache key.
    """
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_describe_value(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        inner = ", ".join(f"{k!r}: {_describe_value(v)}" for k, v in items)
        return "{" + inner + "}"
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = (
            value.get_params(deep=False) if _takes_deep(value) else value.get_params()
        )
        inner = ", ".join(
            f"{k}={_describe_value(v)}" for k, v in sorted(params.items())
        )
        return f"{type(value).__module__}.{type(value).__qualname__}({inner})"
    if isinstance(value, type) or callable(value):
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"{getattr(value, '__module__', '')}.{name}"
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def _takes_deep(value):
    try:
        return "deep" in inspect.signature(value.get_params).parameters
    except (TypeError, ValueError):  # pragma: no cover - C callables
        return False


def _describe(estimator):
    """Describe an estimator and all its parameters in stable text."""
    return re.sub(r"\s+", " ", _describe_value(estimator))


def _source_digest(estimator):
    """Hash of the source of skanomaly's modules that the estimator's classes use.

    A code change of a detector changes its results without changing its
    parameters or, during development, the package version.
    """
    classes = {type(estimator)}
    for step in getattr(estimator, "steps", ()):
        classes.add(type(step[1]))
    for name in ("estimator", "detector"):  # the adapters
        inner = getattr(estimator, name, None)
        if inner is not None:
            classes.add(type(inner))
    digest = hashlib.sha1()
    files = set()
    for cls in classes:
        for klass in cls.__mro__:
            module = sys.modules.get(klass.__module__)
            path = getattr(module, "__file__", None)
            if path and klass.__module__.startswith("skanomaly"):
                if "detectors" in klass.__module__.split("."):
                    # the detector's folder, and the helpers every detector
                    # shares (skanomaly/detectors/_torch_utils.py, ...)
                    folder = os.path.dirname(path)
                    files.update(_python_files(folder))
                    files.update(_python_files(_DETECTORS_FOLDER))
                files.add(path)
    for path in sorted(files):
        with open(path, "rb") as f:
            digest.update(_code_only(f.read()))
    return digest.hexdigest()[:12]


def _python_files(folder):
    return [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py")]


def _code_only(source):
    """Return the code of a Python source, without docstrings, comments, layout.

    Editing documentation does not change results: it must not make the
    cache run a job again. Source that does not parse is taken as it is.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:  # pragma: no cover - a module being edited
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def _data_digest():
    """Hash of the code that builds the tasks: the data sets and the splits.

    A change of a generator (e.g. new defect types) changes the test images
    without changing the task's parameters.
    """
    from .. import datasets

    folder = os.path.dirname(datasets.__file__)
    files = sorted(_python_files(folder))
    files.append(os.path.join(os.path.dirname(__file__), "_tasks.py"))
    digest = hashlib.sha1()
    for path in files:
        with open(path, "rb") as f:
            digest.update(_code_only(f.read()))
    return digest.hexdigest()[:12]


def _job_key(name, estimator, task_spec, rescore=None, checkpoints=None):
    from .. import __version__

    spec = {
        "detector": name,
        "estimator": _describe(estimator),
        "task": task_spec,
        "version": __version__,
        "format": CACHE_FORMAT,
        "source": _source_digest(estimator),
        "data": _data_digest(),
    }
    if rescore:  # absent otherwise: the keys of earlier runs stay valid
        spec["rescore"] = _describe_value(rescore)
    if checkpoints:
        spec["checkpoints"] = sorted(checkpoints)
    text = json.dumps(
        spec,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")
