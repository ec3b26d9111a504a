"""The example of docs/writing_a_detector.md, run as a newcomer would run it.

The page's first code block defines two detectors (one training-free, one
trained through skorch) with ``@register_detector``; this test executes it,
checks that registration alone makes them available to the benchmark, the
command line and the demo, and puts both through every common check.
"""

import os
import re
import sys
import types

import numpy as np
import pytest

import skanomaly.base
from skanomaly.benchmark import available_detectors, make_detector
from skanomaly.cli import demo_detectors
from skanomaly.utils.estimator_checks import detector_checks, smooth_images

PAGE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "docs",
    "writing_a_detector.md",
)


def _page_code():
    with open(PAGE) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    return blocks[0]


@pytest.fixture(scope="module")
def example():
    """The page's detectors, registered in a copy of the registry."""
    saved = dict(skanomaly.base._REGISTRY)
    # a real module, so that the detectors pickle as a package's classes do
    module = types.ModuleType("writing_a_detector_example")
    sys.modules[module.__name__] = module
    try:
        exec(compile(_page_code(), PAGE, "exec"), module.__dict__)
        yield module.PixelGaussian, module.TinyAutoEncoder
    finally:
        del sys.modules[module.__name__]
        skanomaly.base._REGISTRY.clear()
        skanomaly.base._REGISTRY.update(saved)


def test_registration_is_all_it_takes(example):
    """Check that the benchmark, the CLI and the demo pick the new detectors up."""
    pixel, tiny = example
    names = available_detectors()
    assert "PixelGaussian" in names and "TinyAutoEncoder" in names
    assert "TinyAutoEncoder-untrained" in names  # it trains: an ablation exists
    assert "PixelGaussian-untrained" not in names  # nothing to train
    assert isinstance(make_detector("TinyAutoEncoder", preset="quick"), tiny)
    untrained = make_detector("TinyAutoEncoder-untrained", preset="default")
    assert untrained.max_epochs == 0
    demo = demo_detectors()
    assert isinstance(demo["PixelGaussian"], pixel)
    assert isinstance(demo["TinyAutoEncoder"], tiny)
    assert {pixel, tiny} <= set(skanomaly.registered_detectors())


def test_example_detectors_pass_every_common_check(example):
    """Check the page's two detectors against the whole detector contract."""
    for cls in example:
        for check in detector_checks(cls):
            check()


def test_example_detectors_find_an_anomaly(example):
    """Check that both detectors rank a blotched image above normal ones."""
    normal = smooth_images(60)
    test = smooth_images(10, seed=3)
    test[0, 4:9, 4:9] = 1.0
    pixel, tiny = example
    for detector in [pixel(), tiny(max_epochs=100, batch_size=16, random_state=0)]:
        scores = detector.set_params(device="cpu").fit(normal).decision_function(test)
        assert np.argmax(scores) == 0, type(detector).__name__


def test_example_detectors_export_to_onnx(example, tmp_path):
    """Check that the page's detectors export to ONNX with no code for it."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import torch

    from skanomaly.export import prepare_images

    if tuple(int(p) for p in torch.__version__.split(".")[:2]) < (2, 6):
        pytest.skip("ONNX export needs torch 2.6 or later")
    normal, test = smooth_images(60), smooth_images(10, seed=3)
    for cls in example:
        detector = cls(**cls.presets["test"]).set_params(device="cpu").fit(normal)
        path = detector.to_onnx(tmp_path / f"{cls.__name__}.onnx")
        session = ort.InferenceSession(str(path))
        images = prepare_images(detector, test)
        scores, labels = session.run(None, {"images": images})[:2]
        expected = detector.decision_function(test)
        np.testing.assert_allclose(
            scores, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
        )
        np.testing.assert_array_equal(labels, detector.predict(test))
