"""Weights drawn from a fit's own generator, as torch would draw them."""

import pytest
import torch
from torch import nn

import skanomaly
from skanomaly.detectors._torch_utils import init_parameters_
from skanomaly.utils.estimator_checks import make_detector, smooth_images


def _net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 2, 3),
        nn.Flatten(),
        nn.Linear(2 * 16 * 16, 3),
        nn.GroupNorm(1, 3),
    )


def test_init_parameters_matches_torch_defaults():
    """Check that a meta-built network initialised from a generator equals torch's.

    torch's constructors draw from the global generator; ``init_parameters_``
    draws the same distributions in the same order from the generator given,
    so with equal seeds the weights are equal, bit for bit.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        expected = _net()
    with torch.device("meta"):
        net = _net()
    net = init_parameters_(net.to_empty(device="cpu"), torch.Generator().manual_seed(7))
    for (name, a), b in zip(expected.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), name


def test_init_parameters_refuses_layers_it_does_not_know():
    """Check that a layer with weights and no rule is an error, not left empty."""

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))

    with pytest.raises(TypeError, match="_init_parameters_"):
        init_parameters_(nn.Sequential(Scale()), torch.Generator())

    class Known(Scale):
        def _init_parameters_(self, generator):
            self.weight.normal_(generator=generator)

    net = init_parameters_(nn.Sequential(Known()), torch.Generator().manual_seed(0))
    assert not torch.equal(net[0].weight, torch.ones(3))


@pytest.mark.parametrize(
    "detector_class",
    [c for c in skanomaly.DETECTORS if issubclass(c, skanomaly.BaseDeepDetector)],
    ids=lambda c: c.__name__,
)
def test_initial_weights_come_from_random_state(detector_class):
    """Check that max_epochs=0 networks differ by seed and repeat with one seed."""
    images = smooth_images(24)

    def weights(seed):
        detector = make_detector(detector_class, max_epochs=0, random_state=seed)
        state = detector.fit(images).module_.state_dict()
        return torch.cat([t.flatten().float() for t in state.values()])

    assert torch.equal(weights(0), weights(0))
    assert not torch.equal(weights(0), weights(1))
