"""StarGAN: Choi et al. 2018, "StarGAN: Unified Generative Adversarial Networks for Multi-Domain
Image-to-Image Translation" (CVPR).

One generator G(x, c) translates an image x to any target domain c (a label vector replicated over
the image plane and concatenated to x; ResNet generator of gankit.nn.resnet: down-sampling, 6
residual blocks, up-sampling, instance norm, tanh). The discriminator is a PatchGAN trunk
(gankit.nn.patchgan, no norm) with two heads: D_src (real/fake, per patch) and D_cls (the domain
label, a convolution the size of the trunk's output). Losses (Sec. 3-4):

- D: -D_src(x) + D_src(G(x, c)) + lambda_gp GP (Eq. 1 and 8, Wasserstein with the gradient
  penalty of Gulrajani et al. 2017) + lambda_cls L_cls^r, D_cls's loss on real images and their
  labels c' (Eq. 2).
- G: -D_src(G(x, c)) + lambda_cls L_cls^f (Eq. 3, D_cls on fakes against c) + lambda_rec
  ||x - G(G(x, c), c')||_1 (Eq. 4).

L_cls is binary cross-entropy summed over the attributes of a multi-label dataset (CelebA) and
cross-entropy over one categorical label (RaFD). lambda_gp = 10, lambda_cls = 1, lambda_rec = 10;
5 critic steps per generator step; Adam(1e-4, 0.5, 0.999), the learning rate decayed linearly over
the second half. Target labels are the batch's real labels shuffled (the reference code's
``label_org[randperm]``), so mutually exclusive attributes stay one-hot as in the data.

Several datasets at once (Sec. 3.2): the label vector is [c_1 | c_2 | m], m the one-hot mask vector
naming the dataset whose labels are known; L_cls ignores each sample's unknown blocks (the mask
dims themselves are not classified). Batches are {"image", "attrs"} (gankit.data.celeba).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import d_wasserstein, g_wasserstein, gradient_penalty, l1
from gankit.models.base import Batch, GANModel, Losses, check_ranges
from gankit.models.registry import MODELS, Preset, register_preset
from gankit.nn.patchgan import PatchDiscriminator
from gankit.nn.resnet import STRIDE, ResnetGenerator

PREVIEW = 8


@dataclass
class StarGANConfig:
    """Hyper-parameters of StarGAN (0 for size, channels and labels: taken from the data)."""

    image_size: int = 0
    channels: int = 0
    num_classes: int = 0  # length of the label vector c, the mask vector included
    attrs: list[str] = field(default_factory=list)  # a name per label dim (from the data)
    block_names: list[str] = field(default_factory=list)  # the labelled datasets, in order
    block_sizes: list[int] = field(default_factory=list)
    block_single: list[bool] = field(default_factory=list)  # one categorical label (RaFD)
    exclusive: list[list[str]] = field(default_factory=list)  # at most one set (hair colours)
    width: int = 64  # the generator's first layer
    d_width: int = 64
    blocks: int = 6  # residual blocks
    d_layers: int = 0  # stride-2 layers of D; 0: as many as leave at least 4 x 4 (at most 6)
    gp_weight: float = 10.0  # lambda_gp
    cls_weight: float = 1.0  # lambda_cls
    rec_weight: float = 10.0  # lambda_rec


class Block(NamedTuple):
    """A labelled dataset's part of the label vector, and its mask dim (None: always known)."""

    name: str
    start: int
    size: int
    single: bool
    mask: int | None


def label_layout(config: StarGANConfig) -> list[Block]:
    """The blocks of the label vector; one multi-label block when the config names none."""
    sizes = config.block_sizes or [config.num_classes]
    singles = config.block_single or [False] * len(sizes)
    names = config.block_names or ["data"] * len(sizes)
    mask_start = sum(sizes) if len(sizes) > 1 else None
    blocks, start = [], 0
    for index, (name, size, single) in enumerate(zip(names, sizes, singles, strict=True)):
        mask = None if mask_start is None else mask_start + index
        blocks.append(Block(name, start, size, single, mask))
        start += size
    return blocks


def classification_loss(logits: Tensor, target: Tensor, layout: list[Block]) -> Tensor:
    """L_cls (Eq. 2-3): per block, BCE summed over attributes or CE of the categorical label,
    averaged over the samples whose labels for that block are known (mask vector, Sec. 3.2)."""
    total = logits.new_zeros((), dtype=torch.float32)
    for block in layout:
        part = logits[:, block.start : block.start + block.size].float()
        goal = target[:, block.start : block.start + block.size].float()
        if block.single:
            each = F.cross_entropy(part, goal.argmax(1), reduction="none")
        else:
            each = F.binary_cross_entropy_with_logits(part, goal, reduction="none").sum(1)
        known = torch.ones_like(each) if block.mask is None else target[:, block.mask].float()
        total = total + (each * known).sum() / known.sum().clamp(min=1)
    return total


class LabelledGenerator(nn.Module):
    """G(x, c): (B, C, H, W), (B, K) -> (B, C, H, W); c replicated over the plane (Sec. 4.1)."""

    stride = STRIDE

    def __init__(self, channels: int, labels: int, width: int, blocks: int) -> None:
        super().__init__()
        self.net = ResnetGenerator(channels + labels, channels, width, blocks, "instance")
        # The reference code zero-pads this first 7x7 convolution. With reflection padding a
        # constant label plane stays constant, and the instance norm after the convolution
        # subtracts it: G would never see c (measured: every column of the grid the same).
        self.net.net[0] = nn.ZeroPad2d(3)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        planes = labels.to(images.dtype)[:, :, None, None].expand(-1, -1, *images.shape[-2:])
        return self.net(torch.cat([images, planes], dim=1))


class StarDiscriminator(nn.Module):
    """D(x) -> (D_src logits (B, 1, h, w), D_cls logits (B, K)): a PatchGAN trunk, two heads."""

    def __init__(self, channels: int, image_size: int, labels: int, width: int, layers: int):
        super().__init__()
        patch = PatchDiscriminator(channels, image_size, width, layers, norm="none")
        self.trunk, self.source = patch.net[:-1], patch.net[-1]
        trunk_size = image_size // 2**layers - 1  # the stride-1 4x4 convolution takes one off
        self.classes = nn.Conv2d(self.source.in_channels, labels, trunk_size, bias=False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.trunk(images)
        # One D_cls output at the training size (the paper's); a larger input averages several.
        return self.source(hidden), self.classes(hidden).mean(dim=(2, 3))


def default_layers(image_size: int) -> int:
    """Stride-2 layers that leave at least 4 x 4 (5 at 128 px, 3 at 32 px), at most 6."""
    layers = 1
    while layers < 6 and image_size // 2 ** (layers + 1) >= 4:
        layers += 1
    return layers


class StarGAN(GANModel):
    """One G(x, c) for every domain against D_src and D_cls (Choi et al. 2018, Eq. 5-6)."""

    Config = StarGANConfig
    data_kind = "attributes"
    translates = True
    stride = STRIDE

    def __init__(self, config: StarGANConfig) -> None:
        super().__init__(config)
        check_ranges(
            config,
            positive=("width", "d_width"),
            off_or_positive=("blocks", "d_layers"),
            non_negative=("gp_weight", "cls_weight", "rec_weight"),
        )
        size, channels, labels = config.image_size, config.channels, config.num_classes
        if size % STRIDE:
            raise GankitError(f"image size {size}: StarGAN's generator needs a multiple of 4")
        if labels < 1:
            raise GankitError("model.num_classes: StarGAN needs labelled data (--data celeba:...)")
        layers = config.d_layers or default_layers(size)
        self.generator = LabelledGenerator(channels, labels, config.width, config.blocks)
        self.discriminator = StarDiscriminator(channels, size, labels, config.d_width, layers)

    @property
    def layout(self) -> list[Block]:
        return label_layout(self.config)

    def fit_data(self, data: Any, seed: int) -> None:
        """Take the attribute names, label blocks and exclusive groups from the data."""
        config = self.config
        if getattr(data, "num_classes", None) != config.num_classes:
            raise GankitError(f"{data.source}: its labels do not match model.num_classes")
        config.attrs = list(data.names)
        config.block_names = [name for name, _, _ in data.blocks]
        config.block_sizes = [size for _, size, _ in data.blocks]
        config.block_single = [single for _, _, single in data.blocks]
        config.exclusive = [list(group) for group in data.exclusive]

    def _shuffled(self, labels: Tensor) -> Tensor:
        return labels[torch.randperm(len(labels), device=labels.device)]

    def discriminator_loss(self, batch: Batch, step: int) -> Losses:
        real, original = batch["image"], batch["attrs"]
        with torch.no_grad():
            fake = self.generator(real, self._shuffled(original))
        source, classes = self.discriminator(torch.cat([real, fake]))  # no norm: one batch
        real_source, fake_source = source.split(len(real))
        adversarial = d_wasserstein(real_source.float(), fake_source.float())
        penalty = gradient_penalty(lambda x: self.discriminator(x)[0], real, fake)
        cls = classification_loss(classes[: len(real)], original, self.layout)
        config = self.config
        loss = adversarial + config.gp_weight * penalty + config.cls_weight * cls
        return {"loss": loss, "loss_d": adversarial, "gp": penalty, "cls_real": cls}

    def generator_loss(self, batch: Batch, step: int) -> Losses:
        real, original = batch["image"], batch["attrs"]
        target = self._shuffled(original)
        fake = self.generator(real, target)
        source, classes = self.discriminator(fake)
        adversarial = g_wasserstein(source.float())
        cls = classification_loss(classes, target, self.layout)
        reconstruction = l1(self.generator(fake, original).float(), real.float())  # Eq. 4
        config = self.config
        loss = adversarial + config.cls_weight * cls + config.rec_weight * reconstruction
        return {"loss": loss, "loss_g": adversarial, "cls_fake": cls, "rec": reconstruction}

    # --- inference ------------------------------------------------------------------------

    @torch.no_grad()
    def own_labels(self, images: Tensor) -> Tensor:
        """The labels D_cls gives `images` (B, C, S, S): attributes with a positive logit, the
        likeliest class of a categorical block, one member of an exclusive group at most; with
        the mask vector, the first dataset's labels count as known."""
        device = next(self.discriminator.parameters()).device
        logits = self.discriminator(images.to(device))[1].float().cpu()
        labels = torch.zeros_like(logits)
        for block in self.layout:
            part = logits[:, block.start : block.start + block.size]
            if block.single:
                chosen = F.one_hot(part.argmax(1), block.size).float()
            else:
                chosen = (part > 0).float()
            labels[:, block.start : block.start + block.size] = chosen
        for group in self.config.exclusive:
            columns = [self.config.attrs.index(name) for name in group]
            best = logits[:, columns].argmax(1)
            keep = F.one_hot(best, len(columns)).float() * labels[:, columns]
            labels[:, columns] = keep
        if self.layout[0].mask is not None:
            labels[:, self.layout[0].mask] = 1
        return labels

    def translate(
        self,
        images: Tensor,
        *,
        direction: str | None = None,
        generator: nn.Module | None = None,
        labels: Tensor | None = None,
    ) -> Tensor:
        """G(x, c) of images (B, C, H, W) in [-1, 1] for target labels c (B, K); without labels,
        to the images' own domain as D_cls sees it (`own_labels`)."""
        network = generator or self.generator
        device = next(network.parameters()).device
        if labels is None:
            labels = self.own_labels(images)
        return network(images.to(device), labels.to(device)).float()

    def settable(self) -> list[str]:
        """The attribute names a translation may set or clear (the mask dims are not)."""
        return [name for name in self.config.attrs if not name.startswith("mask:")]

    def file_attrs(self) -> list[str]:
        """The attributes an attribute file gives (the first dataset's)."""
        return self.config.attrs[: self.layout[0].size]

    def parse_changes(self, text: str) -> list[tuple[str, bool]]:
        """``+Blond_Hair,-Male`` -> [("Blond_Hair", True), ("Male", False)], checked."""
        changes = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            value, name = (item[0] != "-", item[1:]) if item[0] in "+-" else (True, item)
            if name not in self.settable():
                raise GankitError(
                    f"--attrs {item}: the run was not trained on {name!r} "
                    f"(its attributes: {', '.join(self.settable())})"
                )
            changes.append((name, value))
        if not changes:
            raise GankitError(f"--attrs {text!r}: name attributes, e.g. +Blond_Hair,-Male")
        return changes

    def with_change(self, labels: Tensor, name: str, value: bool) -> Tensor:
        """`labels` (B, K) with attribute `name` set (value True) or cleared; setting one of an
        exclusive group clears the others; a categorical label (one-hot) can only be set."""
        labels = labels.clone()
        index = self.config.attrs.index(name)
        block = next(b for b in self.layout if b.start <= index < b.start + b.size)
        if block.single and not value:
            raise GankitError(f"--attrs -{name}: {block.name} labels are set, not cleared")
        if block.single:
            labels[:, block.start : block.start + block.size] = 0
        if value:
            for group in self.config.exclusive:
                if name in group:
                    labels[:, [self.config.attrs.index(other) for other in group]] = 0
        labels[:, index] = float(value)
        if block.mask is not None:  # translate into this dataset's domain
            masks = [b.mask for b in self.layout]
            labels[:, masks] = 0
            labels[:, block.mask] = 1
        return labels

    def single_changes(self, own: Tensor) -> list[tuple[str, Tensor]]:
        """The paper's figure columns: each attribute changed alone (an exclusive or categorical
        one set, e.g. "+Blond_Hair"; an independent one toggled, e.g. "~Male")."""
        grouped = {name for group in self.config.exclusive for name in group}
        columns = []
        for block in self.layout:
            for name in self.config.attrs[block.start : block.start + block.size]:
                if block.single or name in grouped:
                    columns.append((f"+{name}", self.with_change(own, name, True)))
                    continue
                index = self.config.attrs.index(name)
                on, off = self.with_change(own, name, True), self.with_change(own, name, False)
                toggled = torch.where(own[:, index : index + 1] > 0.5, off, on)
                columns.append((f"~{name}", toggled))
        return columns

    def preview(self, data: Any, generator: nn.Module) -> Tensor:
        """Rows of 8: the first 8 training images, then each attribute changed alone."""
        batch = data.fixed_batch(PREVIEW)
        rows = [batch["image"]]
        for _, labels in self.single_changes(batch["attrs"]):
            rows.append(self.translate(batch["image"], generator=generator, labels=labels).cpu())
        return torch.cat(rows)

    def read_input(self, path: Path) -> Tensor:
        """An image file as the CelebA loader reads it (crop 178, resize): (1, C, S, S)."""
        from gankit.data.celeba import read_image
        from gankit.data.transforms import to_float

        mode = "L" if self.config.channels == 1 else "RGB"
        array = torch.from_numpy(np.array(read_image(path, mode, self.config.image_size)))
        return to_float(array.view(*array.shape[:2], -1).permute(2, 0, 1)[None])

    def file_translator(
        self, direction: str | None = None, attrs: str | None = None, attr_file: str | None = None
    ) -> Callable[[Path, Tensor], Tensor]:
        """`gankit translate --attrs`: each file at the model's size with the changes applied to
        its own labels (from `attr_file` when given, else as D_cls predicts them)."""
        from gankit.metrics.attributes import labels_from_file

        changes = self.parse_changes(attrs) if attrs else []
        known = labels_from_file(attr_file, self.file_attrs()) if attr_file else None

        def translate_file(path: Path, images: Tensor) -> Tensor:
            image = self.read_input(path)
            labels = self.labels_of(path, image, known, attr_file)
            for name, value in changes:
                labels = self.with_change(labels, name, value)
            return self.translate(image, labels=labels).cpu()

        return translate_file

    def labels_of(self, path: Path, image: Tensor, known: dict | None, source: Any) -> Tensor:
        """The own labels of one input: its line of the attribute file, else D_cls's."""
        if known is None:
            return self.own_labels(image)
        if path.name not in known:
            raise GankitError(f"{source}: no line for the image {path.name}")
        labels = torch.zeros(1, self.config.num_classes)
        labels[0, : len(known[path.name])] = known[path.name]
        if self.layout[0].mask is not None:
            labels[0, self.layout[0].mask] = 1
        return labels

    def grid_columns(
        self, files: list[Path], attr_file: str | None = None
    ) -> tuple[list[Tensor], list[str]]:
        """The paper's figure for `files`: the inputs, then one column per attribute changed
        alone; (columns of (N, C, S, S) in [-1, 1], their names)."""
        from gankit.metrics.attributes import labels_from_file

        known = labels_from_file(attr_file, self.file_attrs()) if attr_file else None
        images = torch.cat([self.read_input(path) for path in files])
        own = torch.cat(
            [self.labels_of(p, images[i : i + 1], known, attr_file) for i, p in enumerate(files)]
        )
        changes = self.single_changes(own)
        columns = [images] + [self.translate(images, labels=c).cpu() for _, c in changes]
        return columns, ["input"] + [name for name, _ in changes]

    def sample(self, n: int, **_: Any) -> Tensor:
        raise GankitError("stargan translates images: use `gankit translate`, not sampling")

    @classmethod
    def tiny_config(cls) -> StarGANConfig:
        return StarGANConfig(image_size=16, channels=1, width=4, d_width=4, blocks=1, d_layers=1)


MODELS.add("stargan", StarGAN)

CHOI = (
    "Choi et al. 2018, StarGAN: Unified Generative Adversarial Networks for Multi-Domain "
    "Image-to-Image Translation (CVPR)"
)
PAPER_TRAIN = {
    "lr": 1e-4,
    "beta1": 0.5,
    "beta2": 0.999,
    "d_steps": 5,
    "lr_decay_start": 0.5,
    "ema": 0.0,
    "batch_size": 16,
    "steps": 40000,  # the reference code's 200k critic iterations, G every 5th
    "sample_every": 1000,
    "compile": False,  # torch.compile cannot differentiate its graphs twice (the penalty)
}
register_preset(
    Preset(
        "stargan-paper",
        "stargan",
        CHOI,
        "ResNet G (6 blocks) on [x, c], PatchGAN trunk with D_src and D_cls, WGAN-GP, as published",
        train=PAPER_TRAIN,
    )
)
register_preset(
    Preset(
        "stargan",
        "stargan",
        CHOI,
        "StarGAN with narrow networks and Adam at 6e-4 for CPU budgets; the paper's losses",
        model={"width": 16, "d_width": 16},
        # Measured on fashion-attrs, 5-minute runs on 2 CPU cores, `gankit eval --n 500`: garment
        # class kept 51.3% at lr 1e-4, 65.9% at 3e-4, 69.9% at 6e-4 (attributes 93-95% in all);
        # width 32: 54.7% (1e-4), 68.1% (3e-4); one critic step per G step: 38.3% (worse).
        train={**PAPER_TRAIN, "lr": 6e-4, "steps": 20000},
        why="Networks a quarter as wide (16 filters first, not 64; 0.25 s a step at 32 px on 2 "
        "CPU cores against 0.58 s at 32 filters), Adam at 6e-4 instead of 1e-4 and 20000 "
        "generator steps: in a CPU budget the published widths and lr train too few steps and "
        "too slowly (5-minute runs: garment class kept 70% at 6e-4 against 51% at 1e-4); "
        "stargan-paper has them.",
    )
)
