"""SRResNet and SRGAN: Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network" (CVPR).

The generator G (gankit.nn.srresnet.SRResNet) maps a low-resolution image I_LR to I_SR, ``scale``
times larger. ``srresnet`` trains it on the pixel-wise MSE alone (Eq. 4; no discriminator, so the
one trainer runs the generator phase alone). ``srgan`` adds the discriminator D of Figure 4 and
trains G on the perceptual loss of Eq. 3,

    l_SR = l_content + 1e-3 * l_Gen,   l_Gen = -log D(G(I_LR))   (Eq. 6, non-saturating),

where l_content is the MSE between feature maps of a fixed network (Eq. 5): VGG19's relu5_4
("VGG54") when the user has torchvision's weights (``model.feature_weights`` or the torch hub
cache), scaled by 0.006 as the paper does (1/12.75 per feature map), or gankit's shipped
Fashion-MNIST network offline (gankit.nn.perceptual). D minimises the logistic loss (Eq. 2).
``model.pixel_weight`` adds the MSE to l_content (the paper's SRGAN-MSE when alone).
``model.init_from`` (``--init-from <run>``) starts G from a trained SRResNet run, as the paper's
SRGAN starts from its SRResNet. Batches are {"low_res", "high_res"} (gankit.data.superres).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import ADVERSARIAL, feature_loss
from gankit.models.base import Batch, GANModel, Losses, check_ranges
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.perceptual import CONTENT_LAYER, VGG_FILES, FrozenFeatures, feature_network
from gankit.nn.srresnet import SCALES, SRDiscriminator, SRResNet

PREVIEW = 8
# The paper's content-loss factor for VGG features (Sec. 3.2.2: 1/12.75 per map, ~0.006 on Eq. 5).
FEATURE_SCALE = {"vgg19": 0.006, "vgg16": 0.006, "fashion": 1.0}


@dataclass
class SRGANConfig:
    """Hyper-parameters of SRResNet / SRGAN (0 for size and channels: taken from the data)."""

    image_size: int = 0  # training crops, S x S HR pixels (the paper: 96)
    channels: int = 0
    scale: int = 4  # 2, 4 or 8
    width: int = 64  # the generator's width (64 in the paper)
    blocks: int = 16  # residual blocks (16 in the paper)
    d_width: int = 64  # the discriminator's first width (64 in the paper)
    d_dense: int = 1024
    adversarial_weight: float = 1e-3  # of l_Gen in Eq. 3; 0: srresnet (no discriminator)
    features: str = "auto"  # auto (vgg19 when its weights are found, else fashion) | vgg19 | ...
    feature_weights: str = ""  # a torchvision VGG state_dict file; empty: the torch hub cache
    content_layer: str = ""  # empty: the network's default (vgg19: relu5_4, fashion: stage2)
    feature_weight: float = 0.0  # of the feature MSE; 0: FEATURE_SCALE's value for the network
    pixel_weight: float = 0.0  # of the pixel MSE in l_content (srresnet: MSE alone)
    init_from: str = ""  # a trained srresnet/srgan run whose generator G starts from
    # Not the paper's: add the bicubic up-sampling of the input to G's output (gankit.nn.srresnet)
    bicubic_skip: bool = False


def resolve_features(config: SRGANConfig) -> str:
    """The feature network; "auto": vgg19 when its weights are given or in the torch hub cache."""
    if config.features != "auto":
        if config.features not in CONTENT_LAYER:
            known = ", ".join(["auto", *CONTENT_LAYER])
            raise GankitError(f"model.features must be one of {known}, got {config.features!r}")
        return config.features
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG_FILES["vgg19"]
    return "vgg19" if config.feature_weights or cached.is_file() else "fashion"


class SRGAN(GANModel):
    """SRResNet G, and for srgan the discriminator D and the perceptual loss (Ledig et al. 2017)."""

    Config = SRGANConfig
    data_kind = "superres"
    translates = True

    def __init__(self, config: SRGANConfig) -> None:
        super().__init__(config)
        check_ranges(
            config,
            positive=("width", "d_width", "d_dense"),
            off_or_positive=("blocks",),
            non_negative=("adversarial_weight", "feature_weight", "pixel_weight"),
        )
        if config.scale not in SCALES:
            raise GankitError(f"model.scale must be 2, 4 or 8, got {config.scale}")
        channels = config.channels or 3
        self.generator = SRResNet(
            channels, config.scale, config.width, config.blocks, config.bicubic_skip
        )
        self.discriminator = None
        if config.adversarial_weight > 0:  # srresnet (0): MSE alone, no discriminator
            self.discriminator = SRDiscriminator(
                channels, config.image_size or 96, config.d_width, config.d_dense
            )
            config.features = resolve_features(config)  # saved with the run: it says what ran
        self.adversarial = ADVERSARIAL.get("non_saturating")
        self._features: FrozenFeatures | None = None
        self._fake: Tensor | None = None

    @property
    def stride(self) -> int:
        return 1

    @property
    def output_scale(self) -> int:
        """Outputs are this many times larger than inputs."""
        return self.config.scale

    def fit_data(self, data: Any, seed: int) -> None:
        """Pair the data at the model's scale, check the feature network, load `init_from`."""
        data.use_scale(self.config.scale)
        if self.discriminator is not None:
            self.content_features(torch.device("cpu"))
        if self.config.init_from:
            run_dir = Path(self.config.init_from).expanduser().resolve()
            self.config.init_from = str(run_dir)  # saved absolute: a resume finds it anywhere
            load_generator(self, run_dir)

    def content_features(self, device: torch.device) -> FrozenFeatures:
        if self._features is None:
            layer = self.config.content_layer or CONTENT_LAYER[self.config.features]
            weights = self.config.feature_weights or None
            self._features = feature_network(self.config.features, [layer], weights)
            self._layer = layer
        return self._features.to(device)

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        """Eq. 2: D tells HR crops from G's outputs (logistic loss)."""
        fake = self.generator(batch["low_res"])  # kept for the generator phase
        self._fake = fake
        real_logits = self.discriminator(batch["high_res"])
        fake_logits = self.discriminator(fake.detach())
        loss = self.adversarial.discriminator(real_logits, fake_logits)
        return {"loss": loss, "loss_d": loss, "d_real": real_logits.detach().mean(),
                "d_fake": fake_logits.detach().mean()}  # fmt: skip

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        """srresnet: Eq. 4 (MSE); srgan: Eq. 3 (content + 1e-3 x adversarial)."""
        target = batch["high_res"]
        fake = self._fake if self._fake is not None else self.generator(batch["low_res"])
        self._fake = None
        mse = F.mse_loss(fake.float(), target.float())
        if self.discriminator is None:
            return {"loss": mse, "mse": mse}
        config = self.config
        features = self.content_features(fake.device)
        with torch.no_grad():
            wanted = features(target)
        weight = config.feature_weight or FEATURE_SCALE[config.features]
        content = feature_loss(features(fake), wanted, {self._layer: weight})
        adversarial = self.adversarial.generator(self.discriminator(fake))
        loss = content + config.pixel_weight * mse + config.adversarial_weight * adversarial
        return {"loss": loss, "content": content, "mse": mse, "loss_g": adversarial}

    def translate(
        self, images: Tensor, *, direction: str | None = None, generator: nn.Module | None = None
    ) -> Tensor:
        """G(x): (B, C, h, w) in [-1, 1] -> (B, C, scale h, scale w) in [-1, 1]."""
        if direction is not None:
            raise GankitError("--direction: a super-resolution run has one direction")
        network = generator or self.generator
        device = next(network.parameters()).device
        return network(images.to(device)).float().clamp(-1, 1)

    def preview(self, data: Any, generator: nn.Module) -> Tensor:
        """Rows of 8: LR (nearest), bicubic, G's output, HR of the dataset's first crops."""
        batch = data.fixed_batch(PREVIEW)
        low, high = batch["low_res"], batch["high_res"]
        size = high.shape[-2:]
        nearest = F.interpolate(low, size=size, mode="nearest")
        bicubic = F.interpolate(low, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)
        return torch.cat([nearest, bicubic, self.translate(low, generator=generator).cpu(), high])

    def sample(self, n: int, **_: Any) -> Tensor:
        raise GankitError("a super-resolution model upscales images: use `gankit upscale`")

    @classmethod
    def tiny_config(cls) -> SRGANConfig:
        return SRGANConfig(image_size=8, scale=2, width=4, blocks=1, d_width=4, d_dense=8)


def load_generator(model: SRGAN, run_dir: str | Path) -> None:
    """Load the generator of the srresnet/srgan run `run_dir` into `model` (its EMA weights when
    it kept them); a GankitError for a run of another model, scale, width or channels."""
    from gankit import config as config_io
    from gankit.models.registry import PRESETS
    from gankit.train import runs
    from gankit.train.checkpoint import load_checkpoint, strip_prefix

    run_dir = runs.check_run_dir(Path(run_dir).expanduser())
    other = config_io.load(run_dir / "config.toml")
    if PRESETS.get(other.name).family != "srgan":
        raise GankitError(f"--init-from {run_dir}: a {other.name} run, not srresnet or srgan")
    for key in ("scale", "channels", "width", "blocks", "bicubic_skip"):
        have, want = getattr(other.model, key), getattr(model.config, key)
        if have != want:
            raise GankitError(f"--init-from {run_dir}: model.{key} is {have} there, {want} here")
    path = runs.last_checkpoint(run_dir)
    tensors, _ = load_checkpoint(path)
    state = strip_prefix("ema.module", tensors) or strip_prefix("model.generator", tensors)
    runs.load_weights(model.generator, state, path)


MODELS.add("srgan", SRGAN)

LEDIG = (
    "Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a Generative "
    "Adversarial Network (CVPR)"
)
# Adam(beta1 0.9) at 1e-4, batch 16 (Sec. 3.2); SRGAN: 1e-5 for the second half of its updates
# (the loop's step schedule).
TRAIN = {"lr": 1e-4, "beta1": 0.9, "batch_size": 16, "ema": 0.0, "sample_every": 500}
register_preset(
    Preset(
        "srresnet",
        "srgan",
        LEDIG,
        "SRResNet: 16 residual blocks, pixel-shuffle x2 blocks, trained on MSE (x4 by default)",
        model={"adversarial_weight": 0.0, "pixel_weight": 1.0},
        train={**TRAIN, "steps": 100000},
        why="As published (widths 64, 16 blocks, 96-px crops, Adam 1e-4, batch 16). "
        "model.bicubic_skip (off; not the paper's) adds the bicubic up-sampling of the input to "
        "the output (VDSR's global residual, Kim et al. 2016): the untrained network is bicubic, "
        "so that short CPU runs start from it rather than from noise (numbers in the README).",
    )
)
register_preset(
    Preset(
        "srgan",
        "srgan",
        LEDIG,
        "SRGAN: SRResNet G + 8-conv D; VGG54 (or offline Fashion) content + 1e-3 adversarial",
        # Measured on fashion-sr, 4 minutes from the same SRResNet run (2 CPU cores, gankit eval
        # on 2000 held-out images; SRResNet alone: FID 26.5): the lr decaying linearly to 0 over
        # the second half gave FID 18.4 (PSNR 18.05); the paper's step to 1e-5 gave 26.1 (17.03).
        train={**TRAIN, "steps": 20000, "lr_decay_start": 0.5},
        why="The lr decays linearly to 0 over the second half of the updates instead of the "
        "paper's step from 1e-4 to 1e-5 (srgan-paper): in a short run the decay to 0 settles G "
        "better (fashion-sr, 4 minutes: FID 18.4 against 26.1). Offline (no VGG19 weights) the "
        "content loss uses gankit's Fashion-MNIST network, which sees grey images. "
        "model.bicubic_skip (off; not the paper's) adds the bicubic up-sampling of the input to "
        "G's output.",
    )
)
register_preset(
    Preset(
        "srgan-paper",
        "srgan",
        LEDIG,
        "SRGAN as published: Adam 1e-4, then 1e-5 for the second half of the updates",
        # The paper's 10^5 + 10^5 updates are 20000 here, as for srgan.
        train={**TRAIN, "steps": 20000, "lr_decay_start": 0.5, "lr_schedule": "step"},
    )
)
