"""The ``Examples`` sections of the public docstrings run, and say what they print.

Every public name of the modules of the API reference is searched for
doctests (methods included); each runs as its own test, so a small example
in a docstring cannot go stale.
"""

import doctest
import importlib

import pytest
from test_docs import PUBLIC_MODULES


def _doctests():
    finder = doctest.DocTestFinder()
    found = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            qualified = f"{getattr(obj, '__module__', module_name)}.{name}"
            for test in finder.find(obj, qualified, module=False, globs={}):
                if test.examples:
                    found.setdefault(test.name, test)  # re-exports once
    return [found[name] for name in sorted(found)]


DOCTESTS = _doctests()


def test_the_public_docstrings_have_examples():
    """Check that the search finds the examples (a broken search passes nothing)."""
    names = {test.name.rsplit(".", 1)[-1] for test in DOCTESTS}
    assert {"ConvAutoEncoder", "EncoderGAN", "OneClassKFold", "aupro"} <= names


@pytest.mark.parametrize("test", DOCTESTS, ids=lambda test: test.name)
def test_docstring_example(test):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    output = []
    result = runner.run(test, out=output.append)
    assert result.failed == 0, "".join(output)
