"""The API reference (docs/api.rst) documents exactly the public names.

Reads the reStructuredText source, no Sphinx build: under each
``.. currentmodule::`` the entries of its ``.. autosummary::`` tables are the
names documented for that module, and they must be its ``__all__``. A new
public name that is not documented fails, and so does a documented name that
no longer exists.
"""

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"

PUBLIC_MODULES = [
    "skanomaly",
    "skanomaly.datasets",
    "skanomaly.metrics",
    "skanomaly.model_selection",
    "skanomaly.preprocessing",
    "skanomaly.adapters",
    "skanomaly.pretrained",
    "skanomaly.benchmark",
    "skanomaly.export",
]

_DIRECTIVE = re.compile(r"^\.\. ([\w:-]+)::\s*(.*)$")


def _autosummary_entries(text):
    """Yield (currentmodule, entry, has_toctree) for each autosummary entry."""
    module = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        directive, argument = match.groups()
        if directive == "currentmodule":
            module = argument.strip()
        if directive != "autosummary":
            continue
        toctree = False
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            item = lines[i].strip()
            i += 1
            if item.startswith(":"):
                toctree = toctree or item.startswith(":toctree:")
            elif item:
                assert module is not None, f"autosummary before currentmodule: {item}"
                yield module, item.lstrip("~"), toctree


def _resolve(dotted):
    """The object named by a dotted path, importing modules as needed."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        for attr in parts[n:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


@pytest.fixture(scope="module")
def entries():
    return list(_autosummary_entries(API.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def documented(entries):
    """{module: {name, ...}}: an entry ``sub.Name`` under ``.. currentmodule::
    pkg`` documents ``Name`` for ``pkg`` (a re-export of ``pkg.sub.Name``)."""
    names = {}
    for module, entry, _ in entries:
        names.setdefault(module, set()).add(entry.rsplit(".", 1)[-1])
    return names


def test_reference_parses(entries):
    assert len(entries) > len(PUBLIC_MODULES)


def test_documented_modules_are_public(documented):
    assert set(documented) == set(PUBLIC_MODULES)


@pytest.mark.parametrize("modname", PUBLIC_MODULES)
def test_documented_names_are_all(documented, modname):
    module = importlib.import_module(modname)
    public = set(module.__all__)
    names = documented.get(modname, set())
    missing, extra = sorted(public - names), sorted(names - public)
    assert not missing, f"public names of {modname} not in docs/api.rst: {missing}"
    assert not extra, f"names in docs/api.rst not in {modname}.__all__: {extra}"


def test_entries_name_the_public_objects(entries):
    # `adapters.PyODToSklearn` under skanomaly must be skanomaly.PyODToSklearn
    for module, entry, _ in entries:
        name = entry.rsplit(".", 1)[-1]
        assert _resolve(f"{module}.{entry}") is getattr(
            importlib.import_module(module), name
        ), f"{module}.{entry}"


def test_every_name_has_a_page(entries):
    # only the tables with :toctree: generate a page per entry
    pages = {f"{m}.{e}" for m, e, toctree in entries if toctree}
    for module, entry, _ in entries:
        assert f"{module}.{entry}" in pages, f"{module}.{entry} has no page"
