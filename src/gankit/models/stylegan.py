"""StyleGAN: Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks" (CVPR), with the generator and discriminator of Karras et al. 2020,
"Analyzing and Improving the Image Quality of StyleGAN" (CVPR; StyleGAN2).

The networks are in gankit.nn.stylegan. The losses: the non-saturating logistic loss (Goodfellow
et al. 2014), the R1 penalty on reals (Mescheder et al. 2018, Eq. 4) as a lazy regulariser (its
own phase of the loop every `r1_every` steps, weighted by the interval: StyleGAN2, Sec. 3.1),
optional path-length regularisation (StyleGAN2, Eq. 4, every `pl_every` steps) and style-mixing
regularisation (StyleGAN, Sec. 3.1: two w's with a random crossover for `mixing` of the batches).
Sampling takes a truncation psi (StyleGAN, Eq. 3) and a noise mode; the loop keeps the EMA of G.
The synthesis network doubles from 4 x 4, so it makes powers of two. Data of another size (28 x 28
Fashion-MNIST) is padded with black to the next power of two (32), and the model's images are
cropped back: nothing is resampled, so a sample is compared with the data at its own size (a
bilinear 28 -> 32 -> 28 round trip of the real training images alone scores FID 11.6 against the
test set, with gankit's Fashion-MNIST features, where the images at 28 score 0.23).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import d_logistic, g_non_saturating, r1_penalty
from gankit.models.base import Batch, GANModel, Losses, check_ranges, noise
from gankit.models.clusters import ClusterConditioned
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.stylegan import ResidualDiscriminator, StyleGenerator, mix_styles

NOISE_MODES = ("random", "const", "none")


@dataclass
class StyleGANConfig:
    """Hyper-parameters of StyleGAN (channels 0: from the data)."""

    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 8  # the paper's 8 fully connected layers, learning-rate multiplier 0.01
    # The data's size (0: as it comes); not a power of two: padded to the next one (28 -> 32).
    image_size: int = 0
    channels: int = 0
    width: int = 32  # channels at the full resolution, doubling as the resolution halves...
    max_width: int = 64  # ...up to this many
    d_width: int = 0  # > 0: the discriminator's own `width` (0: the same)
    minibatch_std: int = 4  # D's minibatch-std group size, as NoiseGAN's (StyleGAN2-ADA cifar: 32)
    r1_gamma: float = 0.05  # R1 weight gamma (the penalty is gamma / 2 E||grad D(x)||^2)
    r1_every: int = 16  # lazy R1: its own phase every N steps, weighted N x
    pl_weight: float = 0.0  # > 0: path-length regularisation weight (StyleGAN2: 2)
    pl_every: int = 4
    mixing: float = 0.9  # probability of style mixing for a training batch
    reuse_fakes: bool = True  # the generator phase reuses the discriminator phase's fakes
    # > 0: G's mapping network and D are conditioned on K k-means clusters of the training
    # images, found once before training (gankit.models.clusters): no labels needed.
    clusters: int = 0


class StyleGAN(ClusterConditioned, GANModel):
    """G = synthesis(mapping(z [, c])) against a residual D, logistic loss, lazy R1 (see module
    doc); with `clusters`, conditioned on the data's clusters."""

    Config = StyleGANConfig

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__(config)
        check_config(config)
        self.synthesis_size = synthesis_size(config.image_size)
        self.generator = StyleGenerator(
            config.z_dim,
            config.w_dim,
            config.mapping_layers,
            self.synthesis_size,
            config.channels,
            config.width,
            config.max_width,
            config.clusters,
        )
        self.discriminator = ResidualDiscriminator(
            self.synthesis_size,
            config.channels,
            config.d_width or config.width,
            config.max_width,
            config.clusters,
            config.minibatch_std,
        )
        self.init_clusters()
        self.register_buffer("pl_mean", torch.zeros(()))  # running mean of the path lengths
        self.truncation, self.noise_mode = 1.0, "random"  # sampling options (set_truncation)
        self._fakes: tuple[Tensor, Tensor | None] | None = None  # (fakes, their condition)

    def set_truncation(self, psi: float) -> None:
        """psi for `sample`: w' = w_avg + psi (w - w_avg); 1 leaves w as it is."""
        if not math.isfinite(psi) or not 0 <= psi <= 1:
            raise GankitError(f"truncation psi must be in [0, 1], got {psi}")
        self.truncation = float(psi)

    def set_noise_mode(self, mode: str) -> None:
        """Noise inputs for `sample`: random (seeded by the sample's seed), const or none."""
        if mode not in NOISE_MODES:
            raise GankitError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {mode!r}")
        self.noise_mode = mode

    def pad(self, images: Tensor) -> Tensor:
        """Images at the data's size padded with black (-1) to the synthesis size."""
        margin = self.synthesis_size - self.config.image_size
        if not margin:
            return images
        before = margin // 2
        return F.pad(images, (before, margin - before, before, margin - before), value=-1.0)

    def crop(self, images: Tensor) -> Tensor:
        """The centre of synthesised images at the data's size (the inverse of `pad`)."""
        margin = self.synthesis_size - self.config.image_size
        if not margin:
            return images
        before, size = margin // 2, self.config.image_size
        return images[..., before : before + size, before : before + size]

    def fake_images(self, ws: Tensor) -> Tensor:
        """G's images as D sees them: synthesised, cropped to the data's size and padded again,
        so that a fake's border is the reals' black border."""
        return self.pad(self.crop(self.generator.synthesis(ws)))

    def condition(self, clusters: Tensor) -> Tensor:
        """One-hot class vectors (B, K) of cluster indices."""
        return F.one_hot(clusters, self.config.clusters).float()

    def batch_condition(self, batch: Batch) -> Tensor | None:
        """The clusters of the batch's real images as class vectors (None: unconditioned)."""
        return self.condition(self.clusters_of(batch["image"])) if self.config.clusters else None

    def mixed_styles(self, n: int, device: torch.device, condition: Tensor | None = None) -> Tensor:
        """ws (n, num_ws, w_dim) for training: with probability `mixing`, the layers from a
        random crossover on take the w of a second z (style-mixing regularisation)."""
        ws = self.generator.styles(noise(n, self.config.z_dim, None, device), 1.0, condition)
        num_ws = self.generator.num_ws
        if self.config.mixing > 0 and float(torch.rand(())) < self.config.mixing:
            crossover = int(torch.randint(1, num_ws, ()))
            other = self.generator.styles(noise(n, self.config.z_dim, None, device), 1.0, condition)
            ws = mix_styles(ws, other, crossover)
        return ws

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        real = self.pad(batch["image"])
        # The fakes take the clusters of the real images (as in NoiseGAN).
        condition = self.batch_condition(batch)
        # Keep the generator's graph only when the generator phase will reuse these fakes.
        with torch.set_grad_enabled(self.config.reuse_fakes):
            fake = self.fake_images(self.mixed_styles(len(real), real.device, condition))
        self._fakes = (fake, condition) if self.config.reuse_fakes else None
        real_logits = self.discriminator(real, condition)
        fake_logits = self.discriminator(fake.detach(), condition)
        loss = d_logistic(real_logits, fake_logits)
        return {
            "loss": loss,
            "loss_d": loss.detach(),
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
        }

    @property
    def regularizer_interval(self) -> int:
        return self.config.r1_every if self.config.r1_gamma > 0 else 0

    def discriminator_regularizer(self, batch: Batch, step: int) -> Losses:
        """gamma / 2 E||grad D(x)||^2 on reals, times the interval (StyleGAN2, Sec. 3.1)."""
        real = self.pad(batch["image"].detach().float()).requires_grad_(True)
        penalty = r1_penalty(self.discriminator(real, self.batch_condition(batch)), real)
        weight = self.config.r1_gamma / 2 * self.config.r1_every
        return {"loss": weight * penalty, "r1": penalty.detach()}

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        reused, self._fakes = self._fakes, None
        if reused is not None:
            fake, condition = reused
        else:
            condition = self.batch_condition(batch)
            fake = self.fake_images(self.mixed_styles(len(batch["image"]), self.device, condition))
        loss_g = g_non_saturating(self.discriminator(fake, condition))
        losses = {"loss_g": loss_g.detach()}
        if self.config.pl_weight > 0 and step % self.config.pl_every == 0:
            penalty = self.path_length_penalty(max(1, len(fake) // 2))
            losses["pl"] = penalty.detach()
            loss_g = loss_g + self.config.pl_weight * self.config.pl_every * penalty
        return {"loss": loss_g, **losses}

    def path_length_penalty(self, n: int) -> Tensor:
        """(||J_w^T y||_2 - a)^2 with y ~ N(0, I) / sqrt(H W) and `a` the running mean of the
        lengths (StyleGAN2, Eq. 4; decay 0.01 as in the official code)."""
        condition = self.seed_condition(n, None, self.device)
        ws = self.generator.styles(noise(n, self.config.z_dim, None, self.device), 1.0, condition)
        images = self.generator.synthesis(ws)
        shake = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * shake).sum(), ws, create_graph=True)
        lengths = grad.float().square().sum(2).mean(1).sqrt()  # (n,)
        with torch.no_grad():
            self.pl_mean.lerp_(lengths.mean(), 0.01)
        return (lengths - self.pl_mean).square().mean()

    @property
    def device(self) -> torch.device:
        return self.pl_mean.device

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: Tensor | None = None,
        seed: int | None = None,
        generator: nn.Module | None = None,
    ) -> Tensor:
        """n images in [-1, 1] at the model's `truncation` and `noise_mode`; seeded noise inputs
        too when `seed` is given (the same seed, the same images)."""
        network = generator or self.generator
        ws = self.styles(n, seed, network)
        return self.synthesize(ws, seed, network)

    def styles(self, n: int, seed: int | None, network: nn.Module | None = None) -> Tensor:
        """Truncated ws (n, num_ws, w_dim) of the z's (and clusters) drawn from `seed`."""
        network = network or self.generator
        device = next(network.parameters()).device
        condition = self.seed_condition(n, seed, device)
        return network.styles(noise(n, self.config.z_dim, seed, device), self.truncation, condition)

    def seed_condition(self, n: int, seed: int | None, device: torch.device) -> Tensor | None:
        """Class vectors of n clusters drawn by their share of the data, reproducibly for the
        samples of `seed` (ClusterConditioned.draw_clusters); None when unconditioned."""
        if not self.config.clusters:
            return None
        return self.condition(self.draw_clusters(n, seed, device))

    def synthesize(
        self,
        ws: Tensor,
        seed: int | None = None,
        network: nn.Module | None = None,
        noise_images: list[Tensor | None] | None = None,
    ) -> Tensor:
        """Images in [-1, 1] of given ws, with `noise_images` (one per layer) or else the
        `noise_mode` noise (seeded by `seed`)."""
        network = network or self.generator
        if noise_images is None:
            # The noise's seed is offset so that it does not repeat the z's random stream.
            noise_seed = None if seed is None else seed + 1
            noise_images = network.synthesis.noise_images(
                len(ws), self.noise_mode, noise_seed, ws.device
            )
        return self.crop(network.synthesis(ws, noise_images).float().clamp(-1, 1))

    @classmethod
    def tiny_config(cls) -> StyleGANConfig:
        return StyleGANConfig(z_dim=8, w_dim=8, image_size=16, channels=1, width=4, max_width=16)


def synthesis_size(image_size: int) -> int:
    """The power of two the synthesis network makes for images of `image_size` (28 -> 32)."""
    return 1 << max(0, image_size - 1).bit_length()


def check_config(config: StyleGANConfig) -> None:
    """Refuse sizes the networks cannot be built with, one line each."""
    size = config.image_size
    if size < 8:
        raise GankitError(
            f"model.image_size {size}: StyleGAN makes images from 8 x 8 (powers of two; other "
            "sizes, like 28, are padded to the next one)"
        )
    check_ranges(
        config,
        positive=(
            *("z_dim", "w_dim", "mapping_layers", "width", "max_width", "minibatch_std"),
            *("r1_every", "pl_every"),
        ),
        off_or_positive=("clusters",),
        non_negative=("r1_gamma", "pl_weight"),
        unit=("mixing",),
    )


MODELS.add("stylegan", StyleGAN)

KARRAS = (
    "Karras, Laine & Aila 2019, A Style-Based Generator Architecture for GANs (CVPR); "
    "Karras et al. 2020, Analyzing and Improving the Image Quality of StyleGAN (CVPR)"
)
register_preset(
    Preset(
        "stylegan",
        "stylegan",
        KARRAS,
        "StyleGAN2 generator (mapping net, modulated convs, noise, mixing), narrow for 2 CPU cores",
        model={"width": 16, "clusters": 20, "minibatch_std": 32, "r1_gamma": 0.5},
        # Measured on 2 CPU cores (lock-serialised, 15 steps of batch 64): widths 32-128 made
        # 178 img/s, 32-64 234 img/s, 16-64 324 img/s. With 32-64 and batch 64, a 20-minute
        # budget gave 3813 steps and FID 48.7 (bench/results/20261124-131709-vm-quality.json).
        # 3-minute runs (FID of 2000 samples): 32-64, batch 64: 107-131 (lr 1e-3..5e-3, r1_gamma
        # 0.05..0.5, with or without mixing: all within the run-to-run spread); conditioned on
        # 20 data clusters 115; width 16 and 20 clusters 70.5; the same at batch 32 (1900 steps)
        # 57.9. On a CPU budget the FID follows the number of updates: narrow and batch 32.
        # 20 minutes (n 10000): this preset 38.8 with the data resized to 32, 27.9 padded to 32
        # (bench/results/20261124-222431-vm-quality.json, 20261124-230447-vm-quality.json).
        # 3-minute runs of that preset (n 2000; bench/results/20261125-*): lr 1e-3 / 2e-3 /
        # 4e-3: FID 118 / 68.3 / 57.7; with minibatch-std groups of 32 (the whole batch, as
        # StyleGAN2-ADA's cifar config) at 2e-3 53.2, 4e-3 43.6, 6e-3 34.8, 1e-2 23.3, 2e-2
        # 22.0; r1_gamma 0.5 instead of 0.05: 36.6 at 4e-3, 22.1 at 1e-2. The mapping network's
        # lr multiplier 1 or 0.1 instead of 0.01: 58.6 / 59.3 at 2e-3, 40.1 at 6e-3 (so the
        # paper's 0.01 stays, and the temporary knob that measured it went).
        # 20 minutes (n 10000), groups of 32 and gamma 0.5: lr 1e-2 FID 6.6, recall 0.19; lr 2e-2
        # FID 3.4, recall 0.37 (bench/results/20261125-005912-vm-quality.json,
        # 20261125-014015-vm-quality.json; 27.9 and 0.008 before; dcgan, 20 minutes: 6.2, 0.63).
        # torch.compile cannot differentiate its graphs twice (R1's create_graph).
        train={
            "precision": "auto",
            "batch_size": 32,
            "lr": 2e-2,
            "beta1": 0.0,
            "beta2": 0.99,
            "lr_decay_start": 0.5,
            "ema": 0.999,
            "steps": 20000,
        },
        why="Narrow (16 channels at 32 px doubling to 64, w 128) and batch 32, for many updates "
        "on 2 CPU cores; G and D conditioned on 20 k-means clusters of the data (as dcgan; "
        "model.clusters=0 turns it off; 3-minute runs: FID 57.9 against 107-131 for the wider "
        "unconditioned nets at batch 64); Adam at 2e-2 (not 2e-3) and D's minibatch std over "
        "the whole batch (groups of 32, not 4), gamma 0.5: 20 minutes give FID 3.4 instead of "
        "27.9, recall 0.37 instead of 0.008; no path-length regulariser; bilinear resampling "
        "and 2x2 average pooling instead of FIR filters; bf16 autocast.",
    )
)
register_preset(
    Preset(
        "stylegan-paper",
        "stylegan",
        KARRAS,
        "StyleGAN2 config-F widths (512 channels, w 512), path-length regulariser: for GPUs",
        model={
            "z_dim": 512,
            "w_dim": 512,
            "width": 64,
            "max_width": 512,
            "r1_gamma": 10.0,
            "pl_weight": 2.0,
        },
        train={"batch_size": 32, "lr": 2e-3, "beta1": 0.0, "beta2": 0.99, "ema": 0.999},
        why="Bilinear resampling and 2x2 average pooling instead of FIR filters; width 64 at the "
        "image size doubling to 512 (config F at 256 x 256); gamma 10 (the FFHQ value).",
    )
)
