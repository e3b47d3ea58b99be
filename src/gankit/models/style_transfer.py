"""Fast style transfer: Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution" (ECCV).

One image transformation network f_W (gankit.nn.transform) is trained, for one style image y_s, to
minimise over content images y_c (Eq. 6, with y_hat = f_W(y_c)):

    lambda_c l_feat(y_hat, y_c) + lambda_s l_style(y_hat, y_s) + lambda_TV l_TV(y_hat)

l_feat is the feature reconstruction loss at one layer of a fixed network (Eq. 2), l_style the
Gram-matrix loss summed over several layers (Eq. 4-5; Gatys et al. 2016), l_TV total variation
(Sec. 3.2): `gankit.losses`. The fixed network is VGG16 in the paper (relu2_2 for content;
relu1_2, relu2_2, relu3_3, relu4_3 for style) when the user has its weights, or gankit's shipped
Fashion-MNIST network offline (gankit.nn.perceptual). Not a GAN: there is no discriminator, so the
one trainer runs the generator phase alone. Batches are {"image"} (any image dataset).

The feature network and the style targets are built when first needed and are no part of the
model's state: a trained run stylizes images without the feature network's file or the style image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gankit.data.folders import open_image
from gankit.data.transforms import to_float
from gankit.errors import GankitError
from gankit.losses import feature_loss, gram_distance, gram_matrix, total_variation
from gankit.models.base import Batch, GANModel, Losses, check_ranges
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.perceptual import CONTENT_LAYER, STYLE_LAYERS, FrozenFeatures, feature_network
from gankit.nn.transform import TransformNet
from gankit.tiling import apply_tiled

PREVIEW = 8  # content images per training grid: a row of inputs, a row of their stylizations
# `gankit stylize` runs images larger than TILE x TILE pixels in tiles with OVERLAP pixels of
# context (gankit.tiling), so that memory stays bounded: about 1 GB at the paper's width.
TILE, OVERLAP = 512, 64


@dataclass
class StyleTransferConfig:
    """Hyper-parameters of fast style transfer (0 for size and channels: taken from the data)."""

    image_size: int = 0  # training crops of content images, S x S (the paper: 256)
    channels: int = 0  # of content images and outputs
    style: str = ""  # the style image (a path; `gankit train style-transfer --style <image>`)
    style_size: int = 0  # the style image's short side for its Gram matrices; 0: image_size
    features: str = "fashion"  # fashion (shipped, offline) | vgg16 | vgg19 (torchvision weights)
    feature_weights: str = ""  # a VGG weights file; empty: the torch hub cache
    content_layer: str = ""  # empty: the network's default (vgg16: relu2_2, fashion: stage2)
    style_layers: list[str] = field(default_factory=list)  # empty: the network's defaults
    content_weight: float = 1.0  # lambda_c
    # lambda_s on the sum over style layers. The balance depends on the network's scale: 2 keeps
    # the garments recognisable under the offline network (measured); retune for VGG.
    style_weight: float = 2.0
    tv_weight: float = 1e-4  # lambda_TV (of gankit's per-pixel mean TV)
    width: int = 32  # the first layer's width (32 in the paper)
    blocks: int = 5  # residual blocks (5 in the paper)


class StyleTransfer(GANModel):
    """f_W trained with feature + style + TV losses for one style image (Johnson et al. 2016)."""

    Config = StyleTransferConfig
    translates = True

    def __init__(self, config: StyleTransferConfig) -> None:
        super().__init__(config)
        if config.features not in CONTENT_LAYER:
            known = ", ".join(CONTENT_LAYER)
            raise GankitError(f"model.features must be one of {known}, got {config.features!r}")
        check_ranges(
            config,
            positive=("width",),
            non_negative=("blocks", "style_size", "content_weight", "style_weight", "tv_weight"),
        )
        self.generator = TransformNet(config.channels or 3, config.width, config.blocks)
        self.discriminator = None
        self.content_layer = config.content_layer or CONTENT_LAYER[config.features]
        self.style_layers = list(config.style_layers or STYLE_LAYERS[config.features])
        self._features: FrozenFeatures | None = None
        self._style_grams: dict[str, Tensor] | None = None

    @property
    def stride(self) -> int:
        """Inputs to `translate` must have sides that are multiples of this."""
        return self.generator.stride

    def fit_data(self, data: Any, seed: int) -> None:
        """Check the style image and the feature network before a new run writes anything; the
        style path is stored absolute, so that a resumed run finds it from anywhere."""
        self.config.style = str(style_path(self.config.style))
        self.prepare_losses(torch.device("cpu"))

    def prepare_losses(self, device: torch.device) -> FrozenFeatures:
        """The feature network and the style image's Gram matrices, built once, on `device`."""
        if self._features is None:
            layers = list(dict.fromkeys([self.content_layer, *self.style_layers]))
            weights = self.config.feature_weights or None
            self._features = feature_network(self.config.features, layers, weights)
        if self._style_grams is None or next(iter(self._style_grams.values())).device != device:
            self._features.to(device)
            style = load_style(self.config, self.config.channels or 3).to(device)
            with torch.no_grad():
                activations = self._features(style)
            self._style_grams = {n: gram_matrix(activations[n]) for n in self.style_layers}
        return self._features

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        """Eq. 6 of Johnson et al. 2016 on a batch of content images; each term is logged."""
        content, config = batch["image"], self.config
        features = self.prepare_losses(content.device)
        output = self.generator(content)
        with torch.no_grad():
            target = features(content)
        produced = features(output)
        content_term = feature_loss(produced, target, {self.content_layer: 1.0})
        grams = {name: gram_matrix(produced[name]) for name in self.style_layers}
        style_term = gram_distance(grams, self._style_grams, dict.fromkeys(self.style_layers, 1.0))
        tv_term = total_variation(output)
        loss = (
            config.content_weight * content_term
            + config.style_weight * style_term
            + config.tv_weight * tv_term
        )
        return {"loss": loss, "content": content_term, "style": style_term, "tv": tv_term}

    def translate(
        self, images: Tensor, *, direction: str | None = None, generator: nn.Module | None = None
    ) -> Tensor:
        """f_W(x) for content images x (B, C, H, W) in [-1, 1], H and W multiples of `stride`."""
        if direction is not None:
            raise GankitError("--direction: a style-transfer run has one direction")
        network = generator or self.generator
        device = next(network.parameters()).device
        return network(images.to(device)).float()

    def stylize(self, images: Tensor, tile: int = TILE, overlap: int = OVERLAP) -> Tensor:
        """f_W of images (B, C, H, W) in [-1, 1] of any size (reflection-padded to a multiple of
        `stride` and cropped back), in tiles of `tile` x `tile` pixels with `overlap` pixels of
        context when larger (gankit.tiling; both rounded up to multiples of `stride`, so that
        every tile meets the strided convolutions at the whole image's phase). Instance norm
        normalises each tile by its own statistics, so a tiled image is close to, not equal to,
        the whole image's output (tests/models/test_style_transfer.py measures how close)."""
        from gankit.translation import pad_to_multiple  # it imports gankit.models

        padded, (top, left, height, width) = pad_to_multiple(images, self.stride)
        tile, overlap = (
            -(-n // self.stride) * self.stride if n > 0 else n for n in (tile, overlap)
        )
        output = apply_tiled(self.translate, padded, tile, overlap)
        return output[..., top : top + height, left : left + width]

    def file_translator(
        self,
        direction: str | None = None,
        tile: int | None = None,
        overlap: int | None = None,
        **options: str | None,
    ) -> Callable[[Path, Tensor], Tensor]:
        """How `gankit stylize` (and `gankit translate`) maps each image file: `stylize`, in
        tiles (gankit.translation.file_translator's hook)."""
        from gankit.translation import refuse_options  # it imports gankit.models

        if direction is not None:
            raise GankitError("--direction: a style-transfer run has one direction")
        refuse_options("style-transfer", options)
        tile, overlap = TILE if tile is None else tile, OVERLAP if overlap is None else overlap
        if tile <= 0 or overlap < 0:  # refused before any file is read
            raise GankitError(f"--tile {tile} --overlap {overlap}: the tile must be positive and "
                              "the overlap not negative")  # fmt: skip
        return lambda path, images: self.stylize(images, tile, overlap)

    def preview(self, data: Any, generator: nn.Module) -> Tensor:
        """Rows of 8: content images (the dataset's first 8) and their stylizations."""
        content = data.batch(torch.arange(min(PREVIEW, len(data))))["image"]
        return torch.cat([content, self.translate(content, generator=generator).cpu()])

    def sample(self, n: int, **_: Any) -> Tensor:
        raise GankitError("style-transfer stylizes images: use `gankit stylize`, not sampling")

    @classmethod
    def tiny_config(cls) -> StyleTransferConfig:
        return StyleTransferConfig(image_size=16, channels=1, width=4, blocks=1)


def style_path(style: str) -> Path:
    """The style image's path, absolute; a GankitError when it is not given or not a file."""
    if not style:
        raise GankitError(
            "style-transfer needs a style image: --style <image> (or --set model.style=<image>)"
        )
    path = Path(style).expanduser().resolve()
    if not path.is_file():
        raise GankitError(f"{path}: style image not found")
    return path


def load_style(config: StyleTransferConfig, channels: int) -> Tensor:
    """The style image (1, channels, h, w) in [-1, 1], short side `style_size` (or image_size)."""
    path = style_path(config.style)
    image = open_image(path, "L" if channels == 1 else "RGB")
    side = config.style_size or config.image_size
    if side:
        scale = side / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, resample=3, reducing_gap=None)  # 3: bicubic
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    pixels = pixels.view(*pixels.shape[:2], -1).permute(2, 0, 1)[None]  # (1, C, h, w)
    return to_float(pixels)


MODELS.add("style-transfer", StyleTransfer)

register_preset(
    Preset(
        "style-transfer",
        "style-transfer",
        "Johnson et al. 2016, Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
        "image transformation net (9x9 conv, 2 down, 5 residual, 2 up, instance norm) trained "
        "with feature + style (Gram) + TV losses for one style image; not a GAN",
        train={
            "lr": 1e-3,
            "beta1": 0.9,
            "beta2": 0.999,
            "ema": 0.0,
            "batch_size": 4,
            "steps": 40000,
            "sample_every": 500,
        },
        why="The paper: VGG16 features, 256 px crops of COCO, batch 4, Adam 1e-3, 40k steps; "
        "offline gankit uses its Fashion-MNIST network (model.features=vgg16 with weights).",
    )
)


def stylize_files(
    run_dir: str | Path,
    source: str | Path,
    out: str | Path,
    device: str = "cpu",
    tile: int = TILE,
    overlap: int = OVERLAP,
) -> list[Path]:
    """Stylize the image `source` (or every image under the folder `source`) with the
    style-transfer run `run_dir` into the folder `out`: same relative names, each at its input's
    size (reflection-padded to a multiple of 4 and cropped back; in tiles when larger than
    `tile`, see `StyleTransfer.stylize`), written only when all are done
    (gankit.translation.translate_files)."""
    from gankit import config as config_io
    from gankit.models.registry import PRESETS
    from gankit.train import runs
    from gankit.translation import translate_files

    run_dir = runs.check_run_dir(Path(run_dir))
    name = config_io.load(run_dir / "config.toml").name
    if PRESETS.get(name).family != "style-transfer":
        raise GankitError(f"{run_dir}: a {name} run, not style-transfer (see `gankit translate`)")
    return translate_files(run_dir, source, out, device=device, tile=tile, overlap=overlap)
