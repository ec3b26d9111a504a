"""Sphinx configuration of the skanomaly documentation.

Build with ``make docs`` (``sphinx-build -W --keep-going -b html docs
docs/_build/html``). The build is offline and fast by default; two environment
variables turn on what needs the network or much CPU time:

``SKANOMALY_DOCS_INTERSPHINX=1``
    Link to the documentation of Python, NumPy, scikit-learn, PyOD, skorch and
    PyTorch. Their inventories are downloaded at build time, so this is off by
    default: without network access every download would be a warning, which
    ``-W`` turns into a failed build. Without it, the inventories of Debian's
    ``python3-doc``, ``python-scipy-doc`` and ``python-sklearn-doc`` packages
    are used where installed (CI installs them): links to Python, SciPy and
    scikit-learn, offline.
``SKANOMALY_DOCS_GALLERY=1``
    Run the scripts of ``examples/`` and put their output and figures in the
    gallery; an example that raises fails the build. They train detectors
    (several minutes together on a 2-core CPU; some need Fashion-MNIST or the
    ``pretrained`` extra), so a plain ``make docs`` only shows their code. CI
    builds the site this way.
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # document the checkout, not an install

import skanomaly  # noqa: E402


def _flag(name):
    return os.environ.get(name, "0").strip().lower() in {"1", "true", "yes", "on"}


project = "skanomaly"
author = "The skanomaly developers"
copyright = "The skanomaly developers"
release = skanomaly.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# Only .rst and .md files are sources: the CSV files and figures of
# docs/benchmarks/ are linked from the reports and copied as downloads/images.
exclude_patterns = [
    "_build",
    "_templates",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
]

# -- MyST: the Markdown pages of docs/ ----------------------------------------
# The pages are also read on GitHub, so they link each other by file name and
# to sections by GitHub's heading anchors (`user_guide.md#9-saving-...`).
myst_heading_anchors = 3
myst_enable_extensions = ["deflist", "dollarmath"]

# -- API reference: autosummary + numpydoc -----------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_class_members_toctree = False

# -- Intersphinx (opt-in, see the module docstring) ---------------------------
# There is no network access in CI; with SKANOMALY_DOCS_INTERSPHINX unset
# nothing is downloaded.
intersphinx_mapping = {}
_online_inventories = _flag("SKANOMALY_DOCS_INTERSPHINX")
if not _online_inventories:
    # Offline, the inventories Debian's documentation packages ship
    # (python3-doc, python-scipy-doc, python-sklearn-doc; CI installs them)
    # link to those projects' online pages without any download. Their
    # versions may lag: only names that exist in them become links.
    from glob import glob

    _local = {
        "python": ("https://docs.python.org/3", "/usr/share/doc/python3.*/html"),
        "scipy": (
            "https://docs.scipy.org/doc/scipy",
            "/usr/share/doc/python-scipy-doc/html",
        ),
        "sklearn": (
            "https://scikit-learn.org/stable",
            "/usr/share/doc/python-sklearn-doc/html",
        ),
    }
    for _name, (_url, _folder) in _local.items():
        _found = sorted(glob(os.path.join(_folder, "objects.inv")))
        if _found:
            intersphinx_mapping[_name] = (_url, _found[-1])
if _online_inventories:
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "pyod": ("https://pyod.readthedocs.io/en/latest", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
    }

# -- sphinx-gallery: examples/ (executed only on request) ---------------------
_run_gallery = _flag("SKANOMALY_DOCS_GALLERY")
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": str(DOCS / "auto_examples"),
    # every script is an example (none is named plot_*.py)
    "filename_pattern": r"\.py$",
    "plot_gallery": _run_gallery,
    "download_all_examples": False,
    "write_computation_times": _run_gallery,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" at the end of each API page (from the examples' code,
    # whether or not they are executed)
    "backreferences_dir": str(DOCS / "generated" / "backreferences"),
    "doc_module": ("skanomaly",),
}

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skanomaly {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


# -- Docstrings inherited from scikit-learn and PyOD -------------------------
# The detectors' pages list the methods they inherit (get_params, set_output,
# PyOD's predict_proba, ...), whose docstrings are written for those projects'
# own sites: cross-references to their user guides and glossaries, and PyOD's
# sphinxcontrib-bibtex citations. Offline they cannot resolve, so they become
# plain text; with SKANOMALY_DOCS_INTERSPHINX=1 the :ref: and :term: roles are
# kept and link to the projects' documentation.
_FOREIGN_ROLE = re.compile(r":(ref|term|cite):`([^`<]*?)\s*(?:<([^`>]*)>)?`")
_UNDERLINE = re.compile(r"^(\s*)(-{3,}|={3,})\s*$")


def _foreign_docstring(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] not in {"sklearn", "pyod"}:
        return
    # their :ref: and :term: roles point into their own documentation: kept
    # only with the online inventories (the offline ones may be older)
    keep = {"ref", "term"} if _online_inventories else set()

    def plain(match):
        role, text, target = match.groups()
        if role in keep:
            return match.group(0)
        if role == "cite":
            return f"[{text or target}]"
        return text or target

    for i, line in enumerate(lines):
        lines[i] = _FOREIGN_ROLE.sub(plain, line)
        # a section underline shorter or longer than its title (PyOD)
        underline = _UNDERLINE.match(lines[i])
        if underline and i > 0 and lines[i - 1].strip():
            indent = underline.group(1)
            title = lines[i - 1].strip()
            lines[i] = indent + underline.group(2)[0] * len(title)




# -- Constants re-exported by a package -------------------------------------
# autodoc reads the `#:` comment of a constant in the module it documents it
# from (skanomaly.benchmark), but the comment is where the constant is defined
# (skanomaly.benchmark._detectors); without it, autodoc shows the docstring of
# the value's type ("Built-in immutable sequence..."). Take the comment from
# the skanomaly module that defines the constant.
def _constant_docstring(app, what, name, obj, options, lines):
    if what != "data":
        return
    from sphinx.pycode import ModuleAnalyzer, PycodeError

    package, attr = name.rsplit(".", 1)
    for modname, module in sorted(sys.modules.items()):
        if not (modname == package or modname.startswith(package + ".")):
            continue
        if getattr(module, attr, None) is not obj:
            continue
        try:
            comment = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:
            continue
        if ("", attr) in comment:
            lines[:] = list(comment["", attr])
            return
    if lines and "\n".join(lines).strip() == (type(obj).__doc__ or "").strip():
        lines.clear()  # never show the docstring of str or tuple


def setup(app):
    """Connect the docstring hooks of this file."""
    # before numpydoc (priority 500) parses the sections
    app.connect("autodoc-process-docstring", _foreign_docstring, priority=400)
    app.connect("autodoc-process-docstring", _constant_docstring, priority=400)
