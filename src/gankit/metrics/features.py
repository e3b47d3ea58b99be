"""Feature networks for the metrics: gankit's own small classifier and the FID InceptionV3.

FID, KID and precision/recall compare feature distributions, so every number depends on the network
that embeds the images. Two are available:

- ``"fashion"``: a small CNN trained on Fashion-MNIST (Xiao et al. 2017) by
  `gankit.metrics.classifier.train_classifier`; its weights ship with gankit, so evaluation works
  offline. The same class serves any labelled dataset (pass the ``.safetensors`` file it wrote).
- ``"inception"``: InceptionV3 in the variant of the standard FID code (Heusel et al. 2017), when
  the user has its weights file (see `gankit.metrics.inception`).

Every network takes images in [-1, 1] (N, C, H, W) and returns ``(features, logits)`` from
`features_and_logits`; it does its own resizing and channel conversion (`preprocess`). Loading never
runs code from a file: safetensors, or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.registry import Registry

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
FASHION_WEIGHTS = WEIGHTS_DIR / "fashion_mnist_classifier.safetensors"
# ITU-R BT.601 luma weights: the usual RGB -> grey conversion, and the one gankit's data uses.
LUMA = (0.299, 0.587, 0.114)


def to_grey(images: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) by ITU-R BT.601 luma; (N, 1, H, W) unchanged."""
    if images.shape[1] == 1:
        return images
    if images.shape[1] != 3:
        raise GankitError(f"images have {images.shape[1]} channels; expected 1 (grey) or 3 (RGB)")
    weights = images.new_tensor(LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def to_rgb(images: Tensor) -> Tensor:
    """(N, 1, H, W) -> (N, 3, H, W) by repetition; (N, 3, H, W) unchanged."""
    if images.shape[1] == 3:
        return images
    if images.shape[1] != 1:
        raise GankitError(f"images have {images.shape[1]} channels; expected 1 (grey) or 3 (RGB)")
    return images.expand(-1, 3, -1, -1)


def preprocess(images: Tensor, size: int = 28, channels: int = 1) -> Tensor:
    """Bring images in [-1, 1] (N, C, H, W) to the classifier's input: (N, channels, size, size).

    RGB is converted to grey by BT.601 luma (grey to RGB by repetition); a non-square image is
    centre-cropped to a square; a different size is resized with antialiased bilinear filtering
    (the filter gankit's data loaders use), so a generator trained at 32 or 64 pixels is scored on
    the same kind of input the classifier saw in training.
    """
    images = images.float()
    images = to_grey(images) if channels == 1 else to_rgb(images)
    height, width = images.shape[-2:]
    if height != width:
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        images = images[..., top : top + side, left : left + side]
    if images.shape[-1] != size:
        images = F.interpolate(
            images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return images


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (no bias: the batch norm has one), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class FashionClassifier(nn.Module):
    """A small VGG-style CNN (Simonyan & Zisserman 2015) for 28x28 grey images.

    Three 3x3 conv/BN/ReLU stages (widths 32, 64, 128 by default), each followed by 2x2 max
    pooling (28 -> 14 -> 7 -> 3), then a dense layer to a `feature_dim`-d penultimate feature
    (ReLU) and a linear layer to the logits. The penultimate feature is the embedding for
    FID/KID/PR; the stage outputs are exposed by `activations` for perceptual losses.
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, ...] = (32, 64, 128),
        feature_dim: int = 256,
        image_size: int = 28,
        channels: int = 1,
    ) -> None:
        super().__init__()
        self.num_classes, self.widths, self.feature_dim = num_classes, tuple(widths), feature_dim
        self.image_size, self.channels = image_size, channels
        self.class_names: list[str] = [str(i) for i in range(num_classes)]
        ins = (channels, *self.widths[:-1])
        pairs = zip(ins, self.widths, strict=True)
        self.stages = nn.ModuleList(conv_bn_relu(i, o) for i, o in pairs)
        final_size = image_size // 2 ** len(self.widths)
        self.dense = nn.Linear(self.widths[-1] * final_size**2, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def config(self) -> dict[str, object]:
        """The constructor arguments (stored next to the weights)."""
        return {
            "num_classes": self.num_classes,
            "widths": list(self.widths),
            "feature_dim": self.feature_dim,
            "image_size": self.image_size,
            "channels": self.channels,
        }

    def activations(self, x: Tensor) -> dict[str, Tensor]:
        """Named intermediate outputs: "stage1".."stageK" (after ReLU, before pooling),
        "features" (the penultimate vector) and "logits"."""
        out: dict[str, Tensor] = {}
        x = preprocess(x, self.image_size, self.channels)
        for index, stage in enumerate(self.stages, start=1):
            x = stage(x)
            out[f"stage{index}"] = x
            x = F.max_pool2d(x, 2)
        features = F.relu(self.dense(x.flatten(1)))
        out["features"] = features
        out["logits"] = self.head(features)
        return out

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, feature_dim) penultimate features and (N, num_classes) logits; x in [-1, 1]."""
        out = self.activations(x)
        return out["features"], out["logits"]

    def features(self, x: Tensor) -> Tensor:
        """(N, feature_dim) penultimate features."""
        return self.features_and_logits(x)[0]

    def forward(self, x: Tensor) -> Tensor:
        """(N, num_classes) logits of images in [-1, 1] (N, C, H, W)."""
        return self.features_and_logits(x)[1]


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise GankitError(f"{path}: not a readable safetensors file ({error})") from None


def load_classifier(path: str | Path = FASHION_WEIGHTS) -> FashionClassifier:
    """A `FashionClassifier` from a safetensors file written by `train_classifier` (eval mode)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GankitError(f"{path}: classifier weights not found")
    metadata = read_metadata(path)
    if "config" not in metadata:
        raise GankitError(f"{path}: no classifier config in its metadata (not written by gankit?)")
    config = json.loads(metadata["config"])
    config["widths"] = tuple(config["widths"])
    network = FashionClassifier(**config)
    network.class_names = json.loads(metadata.get("class_names", "[]")) or network.class_names
    load_checked(network, load_file(str(path)), path)
    return network.eval()


def load_checked(network: nn.Module, state: dict[str, Tensor], path: str | Path) -> None:
    """Load `state` into `network`, failing with the file and the first bad key on a mismatch.

    BatchNorm's ``num_batches_tracked`` counters are optional (older files lack them).
    """
    expected = {k: v for k, v in network.state_dict().items() if "num_batches_tracked" not in k}
    given = {k: v for k, v in state.items() if "num_batches_tracked" not in k}
    for key in expected:
        if key not in given:
            raise GankitError(f"{path}: missing weight {key!r} (not the expected network?)")
        if tuple(given[key].shape) != tuple(expected[key].shape):
            raise GankitError(
                f"{path}: weight {key!r} has shape {tuple(given[key].shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
    unexpected = sorted(set(given) - set(expected))
    if unexpected:
        raise GankitError(f"{path}: unexpected weight {unexpected[0]!r} (not the expected network)")
    network.load_state_dict(state, strict=False)


FeatureLoader = Callable[[str | None], nn.Module]
FEATURE_NETWORKS: Registry[FeatureLoader] = Registry("feature network")


@FEATURE_NETWORKS.register("fashion")
def _fashion(path: str | None) -> nn.Module:
    return load_classifier(path or FASHION_WEIGHTS)


@FEATURE_NETWORKS.register("inception")
def _inception(path: str | None) -> nn.Module:
    from gankit.metrics.inception import load_inception

    return load_inception(path)


def load_feature_network(name: str = "fashion", path: str | Path | None = None) -> nn.Module:
    """A feature network in eval mode, by registry name ("fashion", "inception").

    `path` overrides where its weights come from; a name ending in ``.safetensors`` is read as the
    path of a classifier written by `train_classifier` (e.g. one trained on MNIST).
    """
    if str(name).endswith(".safetensors"):
        return load_classifier(name)
    network = FEATURE_NETWORKS.get(name)(None if path is None else str(path))
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network.eval()
