"""Training objectives of UTAD's two stages (plain PyTorch).

The released code of Liu, Zhuang and Lu (arXiv 2103.11671) has no training
loop; the objectives below are inferred from its configuration files
(``IE-Net/configs/mvtec.yaml``, ``Expert-Net/configs/mvtec_ad.yaml``) and its
modules, as documented in ``docs/utad.md``.

Stage 1 (IE-Net)::

    L_IE = recon_weight * ||m - x||_2^2 + kl_weight * KL(N(mu, sigma^2) || N(0, I))
           + adversarial_weight * L_GAN + mi_local_weight * L_MI^local
           + mi_global_weight * L_MI^global

Stage 2 (Expert-Net), with ``a`` the image and ``b`` the impression domain::

    L_EN = recon_weight * (|Dec_a(c_a, s_a) - x|_1 + |Dec_b(c_b, s_b) - m|_1)
           + paired_weight * |Dec_a(c_b, s_a) - x|_1
           + latent_weight * (|s(x_ba) - s~_a|_1 + |s(x_ab) - s~_b|_1
                              + |c(x_ba) - c_b|_1 + |c(x_ab) - c_a|_1)

where ``x_ba = Dec_a(c_b, s~_a)`` and ``x_ab = Dec_b(c_a, s~_b)`` are
translations with detail codes ``s~ ~ N(0, I)`` (MUNIT's latent
reconstruction).
"""

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from .impression_net import ImageDiscriminator, LatentCritic

__all__ = [
    "ImpressionTrainer",
    "expert_loss",
    "impression_loss",
    "infomax_loss",
    "kl_divergence",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
]


def kl_divergence(mean, log_var):
    """``KL(N(mean, exp(log_var)) || N(0, I))``, summed over dims, batch mean."""
    return 0.5 * (log_var.exp() + mean.pow(2) - 1 - log_var).sum(dim=1).mean()


def lsgan_generator_loss(fake_outputs):
    """Least-squares GAN loss of the generator: ``sum_s E[(D_s(fake) - 1)^2]``."""
    return sum((out - 1).pow(2).mean() for out in fake_outputs)


def lsgan_discriminator_loss(fake_outputs, real_outputs):
    """Compute ``sum_s E[D_s(fake)^2] + E[(D_s(real) - 1)^2]`` (``calc_dis_loss``)."""
    return sum(
        fake.pow(2).mean() + (real - 1).pow(2).mean()
        for fake, real in zip(fake_outputs, real_outputs)
    )


def infomax_loss(critic, code, features):
    """Deep-InfoMax loss in its Jensen-Shannon (binary cross-entropy) form.

    The critic scores each code with its own image's features (positive pairs)
    and with the features of the next image in the batch (negative pairs);
    minimizing this loss, for the critic and the encoder alike, raises the
    lower bound on the mutual information between codes and features.
    """
    if len(code) < 2:
        return code.sum() * 0.0
    positive = critic(code, features)
    negative = critic(code, features.roll(1, dims=0))
    return F.softplus(-positive).mean() + F.softplus(negative).mean()


class ImpressionTrainer(nn.Module):
    """The IE-Net with the optional critics it is trained against.

    Parameters
    ----------
    net : ImpressionNet
    adversarial : bool, default=False
        Add a two-scale :class:`ImageDiscriminator`.
    mi_local, mi_global : bool, default=False
        Add a :class:`LatentCritic` for the local (per-position) and the
        global (pooled) mutual information between the latent mean and the
        deepest encoder features.
    """

    def __init__(self, net, adversarial=False, mi_local=False, mi_global=False):
        super().__init__()
        self.net = net
        channels = net.decoder[-2].out_channels
        code_dim = net.mean.out_features
        self.discriminator = ImageDiscriminator(channels) if adversarial else None
        self.local_critic = (
            LatentCritic(code_dim, net.feature_channels) if mi_local else None
        )
        self.global_critic = (
            LatentCritic(code_dim, net.feature_channels) if mi_global else None
        )

    def forward(self, x):
        """Run the wrapped IE-Net on ``x`` (what the trainer trains)."""
        return self.net(x)


def impression_loss(
    trainer,
    x,
    *,
    recon_weight=100.0,
    kl_weight=0.1,
    adversarial_weight=0.0,
    mi_local_weight=0.0,
    mi_global_weight=0.0,
):
    """Stage-1 loss ``L_IE`` of one batch ``x`` in [0, 1]; returns ``(loss, logs)``.

    The discriminator's own least-squares loss is added to the total: its
    gradient reaches only the discriminator (the generator's adversarial term
    is computed with detached discriminator weights, the discriminator's term
    on detached impressions), so one optimizer step updates both players.
    """
    impression, features, mean, log_var = trainer(x)
    recon = F.mse_loss(impression, x)
    kl = kl_divergence(mean, log_var)
    loss = recon_weight * recon + kl_weight * kl
    logs = {"impression_recon": recon.item(), "impression_kl": kl.item()}
    if trainer.discriminator is not None:
        frozen = {
            name: p.detach() for name, p in trainer.discriminator.named_parameters()
        }
        adversarial = lsgan_generator_loss(
            functional_call(trainer.discriminator, frozen, (impression,))
        )
        discriminator = lsgan_discriminator_loss(
            trainer.discriminator(impression.detach()), trainer.discriminator(x)
        )
        loss = loss + adversarial_weight * adversarial + discriminator
        logs["impression_adversarial"] = adversarial.item()
        logs["impression_discriminator"] = discriminator.item()
    mi = 0.0
    if trainer.local_critic is not None:
        mi = mi + mi_local_weight * infomax_loss(trainer.local_critic, mean, features)
    if trainer.global_critic is not None:
        pooled = features.mean(dim=(2, 3))
        mi = mi + mi_global_weight * infomax_loss(trainer.global_critic, mean, pooled)
    if torch.is_tensor(mi):
        loss = loss + mi
        logs["impression_mi"] = mi.item()
    return loss, logs


def expert_loss(
    expert,
    x,
    m,
    *,
    generator=None,
    recon_weight=10.0,
    paired_weight=10.0,
    latent_weight=1.0,
):
    """Stage-2 loss ``L_EN`` of image/impression pairs in [-1, 1]; ``(loss, logs)``.

    ``generator`` draws the detail codes ``s~ ~ N(0, I)`` of the latent
    reconstruction term (skipped when ``latent_weight == 0``).
    """
    gen_a, gen_b = expert.image, expert.impression
    content_a, detail_a = gen_a.encode_content(x), gen_a.encode_detail(x)
    content_b, detail_b = gen_b.encode_content(m), gen_b.encode_detail(m)
    recon = F.l1_loss(gen_a.decode(content_a, detail_a), x) + F.l1_loss(
        gen_b.decode(content_b, detail_b), m
    )
    paired = F.l1_loss(gen_a.decode(content_b, detail_a), x)
    loss = recon_weight * recon + paired_weight * paired
    logs = {"expert_recon": recon.item(), "expert_paired": paired.item()}
    if latent_weight > 0:
        shape = detail_a.shape
        random_a = torch.randn(shape, generator=generator, device=x.device)
        random_b = torch.randn(shape, generator=generator, device=x.device)
        x_ba = gen_a.decode(content_b, random_a)
        x_ab = gen_b.decode(content_a, random_b)
        latent = (
            F.l1_loss(gen_a.encode_detail(x_ba), random_a)
            + F.l1_loss(gen_b.encode_detail(x_ab), random_b)
            + F.l1_loss(gen_a.encode_content(x_ba), content_b)
            + F.l1_loss(gen_b.encode_content(x_ab), content_a)
        )
        loss = loss + latent_weight * latent
        logs["expert_latent"] = latent.item()
    return loss, logs
