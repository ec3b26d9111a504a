"""The skorch net that trains EncoderGAN: critic, generator, encoder step per batch.

skorch is an implementation detail of the estimator. The net holds a single
optimizer over the three networks' weights; every step clears all gradients,
back-propagates its loss into *one* network's weights only
(``loss.backward(inputs=...)``) and steps the optimizer, which leaves weights
without a gradient untouched. With Adam, whose state is per weight, that is
the same as the three separate Adam optimizers of the official code, and a
user's ``LRScheduler`` acts on all three learning rates at once.
"""

import torch
from skorch.utils import TeeGenerator, to_tensor

from ...base import _InterruptibleNet
from .loss import critic_loss, encoder_cycle_loss, generator_loss, gradient_penalty

__all__ = ["PHASES"]

#: What a training iteration does: ``"joint"`` critic, generator and encoder
#: steps (the paper); ``"gan"`` critic and generator only; ``"encoder"`` the
#: encoder only, the GAN frozen (the two phases of a post-hoc encoder).
PHASES = ("joint", "gan", "encoder")


class _EncoderGANNet(_InterruptibleNet):
    """skorch net whose train step runs the critic, generator and encoder steps.

    Settings are attributes set after construction (skorch would otherwise treat
    them as its own parameters): ``phase``, ``n_critic``, ``gp_weight``,
    ``drift_weight``, ``real_cycle_weight`` and two ``torch.Generator`` objects,
    ``gan_rng`` for the GAN's latents and interpolation weights and
    ``encoder_rng`` for the encoder's latents. Because the encoder draws from
    its own generator and changes no GAN weight, the GAN trains identically
    whether or not, and whenever, the encoder is trained.

    ``train_loss`` is the encoder's cycle loss where the encoder is trained,
    and the critic loss in the ``"gan"`` phase; ``d_loss``, ``g_loss``,
    ``e_loss`` and ``gp`` (the unweighted gradient penalty) are recorded per
    batch.
    """

    phase = "joint"
    n_critic = 1
    gp_weight = 10.0
    drift_weight = 1e-3
    real_cycle_weight = 0.0
    gan_rng = None
    encoder_rng = None

    def get_all_learnable_params(self):
        for name, param in super().get_all_learnable_params():
            if not name.startswith("generator_ema."):
                yield name, param

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        self.history.record("phase", self.phase)

    def _update(self, loss, network, batch):
        """Back-propagate ``loss`` into ``network``'s weights only, and step."""
        named = list(getattr(self.module_, network).named_parameters(prefix=network))
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward(inputs=[param for _, param in named])
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(iter(named)),
            batch=batch,
            training=True,
        )
        self.optimizer_.step()

    def _critic_step(self, real, batch):
        module = self.module_
        n = len(real)
        z = module.sample_latent(n, generator=self.gan_rng)
        with torch.no_grad():
            fake = module.generator(z)
        u = torch.rand(n, generator=self.gan_rng, device=real.device)
        penalty = gradient_penalty(module.critic, real, fake, u)
        loss = critic_loss(
            module.critic(real),
            module.critic(fake),
            penalty,
            gp_weight=self.gp_weight,
            drift_weight=self.drift_weight,
        )
        self._update(loss, "critic", batch)
        return loss.item(), penalty.item()

    def _generator_step(self, n, batch):
        module = self.module_
        z = module.sample_latent(n, generator=self.gan_rng)
        loss = generator_loss(module.critic(module.generator(z)))
        self._update(loss, "generator", batch)
        module.update_ema()
        return loss.item()

    def _encoder_step(self, real, batch):
        module = self.module_
        z = module.sample_latent(len(real), generator=self.encoder_rng)
        with torch.no_grad():
            fake = module.generator(z)
        loss = encoder_cycle_loss(fake, module.generator(module.encoder(fake)))
        if self.real_cycle_weight > 0:
            # the library's departure: the encoder also inverts the generator
            # on the real training images
            real_loss = encoder_cycle_loss(real, module.generator(module.encoder(real)))
            loss = loss + self.real_cycle_weight * real_loss
        self._update(loss, "encoder", batch)
        return loss.item()

    def train_step(self, batch, **fit_params):
        self._set_training(True)
        X = batch[0] if isinstance(batch, (tuple, list)) else batch
        real = self.module_.to_network(to_tensor(X, device=self.device))
        logs = {}
        if self.phase in ("joint", "gan"):
            steps = [self._critic_step(real, batch) for _ in range(self.n_critic)]
            logs["d_loss"] = sum(s[0] for s in steps) / len(steps)
            logs["gp"] = sum(s[1] for s in steps) / len(steps)
            logs["g_loss"] = self._generator_step(len(real), batch)
        if self.phase in ("joint", "encoder"):
            logs["e_loss"] = self._encoder_step(real, batch)
        for name, value in logs.items():
            self.history.record_batch(name, value)
        loss = logs["e_loss"] if "e_loss" in logs else logs["d_loss"]
        return {"loss": torch.tensor(loss), "y_pred": None}
