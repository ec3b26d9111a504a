"""The three losses of EncoderGAN (Berg, Ahlberg and Felsberg, arXiv 1905.11034).

Written after the official code's ``loss.py`` as described in
``docs/encoder_gan.md`` (not copied): WGAN-GP with a drift term for the
critic, the Wasserstein generator loss, and the encoder's image-space cycle
loss on *generated* images.
"""

import torch

__all__ = ["critic_loss", "encoder_cycle_loss", "generator_loss", "gradient_penalty"]


def gradient_penalty(critic, real, fake, u, gamma=1.0):
    """WGAN-GP penalty ``E[(||grad D(x_hat)||_2 - gamma)^2] / gamma^2``.

    ``x_hat = real + u (fake - real)`` with one ``u`` in [0, 1] per image.
    The graph is kept (``create_graph=True``) so that the penalty can be
    differentiated with respect to the critic's weights.
    """
    x_hat = (real + u.reshape(-1, 1, 1, 1) * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return ((norm - gamma) ** 2).mean() / gamma**2


def critic_loss(d_real, d_fake, penalty, gp_weight=10.0, drift_weight=1e-3):
    """Critic (discriminator) loss of the official code.

    ``L_D = E[D(G(z))] - E[D(x)] + gp_weight * penalty + drift_weight * E[D(x)^2]``,
    with ``penalty`` from :func:`gradient_penalty` (lambda = 10, gamma = 1,
    epsilon_d = 1e-3 in the official code).
    """
    return (
        d_fake.mean()
        - d_real.mean()
        + gp_weight * penalty
        + drift_weight * d_real.pow(2).mean()
    )


def generator_loss(d_fake):
    """Wasserstein generator loss ``L_G = -E[D(G(z))]``."""
    return -d_fake.mean()


def encoder_cycle_loss(fake, cycled):
    """Compute the encoder loss ``L_E = E_z (1 / CHW) ||G(z) - G(E(G(z)))||_1``.

    ``fake = G(z)`` and ``cycled = G(E(G(z)))``. Its gradients are applied to
    the encoder only: the gradient flows *through* the generator, whose weights
    this loss does not change.
    """
    return (fake - cycled).abs().mean()
