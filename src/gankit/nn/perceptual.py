"""Fixed feature networks for perceptual losses: named activations of images in [-1, 1].

The feature reconstruction and style losses of Johnson et al. 2016 and the content loss of SRGAN
(Ledig et al. 2017) compare the activations of a fixed, pre-trained network (`gankit.losses`:
`feature_loss`, `style_loss`). Three networks are available through `feature_network`:

- ``"vgg16"``, ``"vgg19"``: the convolutional part of VGG (Simonyan & Zisserman 2015, configurations
  D and E), built here with torchvision's module layout, so that a torchvision state_dict file
  (``features.N.weight`` ...) loads as is. Layers are named as in the papers: ``conv{b}_{i}`` and
  ``relu{b}_{i}`` (the i-th convolution of block b), ``pool{b}``. Johnson et al. use relu2_2 for
  content and relu1_2, relu2_2, relu3_3, relu4_3 for style; SRGAN's VGG54 is relu5_4 of VGG19
  (the 4th convolution, after its ReLU, before the 5th max-pool).
- ``"fashion"``: the convolutional stages of gankit's shipped Fashion-MNIST classifier
  (`gankit.metrics.features`), ``stage1``..``stage3`` (after ReLU, before pooling), offline. It is
  run fully convolutionally (no resize), on grey images.

The module does the channel conversion (grey <-> RGB) and the network's own input normalisation
(ImageNet mean and std for VGG) itself. It is frozen and always in eval mode, and it keeps no
state in its owner's state_dict: its weights come from their file, so a model's checkpoints stay
small and loading a trained model never needs the feature network's file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.metrics.features import FASHION_WEIGHTS, load_classifier, to_grey, to_rgb

# torchvision's cfgs "D" (VGG16) and "E" (VGG19): conv widths per block, a max-pool after each.
VGG_BLOCKS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}
# torchvision's release file names (what the torch hub cache holds after torchvision downloads).
VGG_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The default content layer per network: SRGAN's VGG54, Johnson et al.'s relu2_2, the middle stage.
CONTENT_LAYER: dict[str, str] = {"vgg19": "relu5_4", "vgg16": "relu2_2", "fashion": "stage2"}
# The default style layers (Johnson et al. 2016, Sec. 4.1) and the offline network's stages.
STYLE_LAYERS: dict[str, tuple[str, ...]] = {
    "vgg19": ("relu1_2", "relu2_2", "relu3_4", "relu4_4"),
    "vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    "fashion": ("stage1", "stage2", "stage3"),
}
FASHION_LAYERS = ("stage1", "stage2", "stage3")


def vgg_layer_names(name: str) -> list[str]:
    """The names of the layers of `features` in order (index i of torchvision's Sequential)."""
    names: list[str] = []
    for block, widths in enumerate(VGG_BLOCKS[name], start=1):
        for conv in range(1, len(widths) + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return names


def vgg_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """The shape of every weight of VGG's `features`, by torchvision's state_dict key."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, fan_in = 0, 3
    for widths in VGG_BLOCKS[name]:
        for width in widths:
            shapes[f"features.{index}.weight"] = (width, fan_in, 3, 3)
            shapes[f"features.{index}.bias"] = (width,)
            index, fan_in = index + 2, width  # conv, ReLU
        index += 1  # max-pool
    return shapes


def _check_layers(network: str, layers: Sequence[str], known: Sequence[str]) -> None:
    if not layers:
        raise GankitError(f"feature network {network}: no layers asked for")
    for layer in layers:
        if layer not in known:
            raise GankitError(
                f"feature network {network} has no layer {layer!r}; known: {', '.join(known)}"
            )


class VGGFeatures(nn.Module):
    """VGG16/19's convolutional part up to the deepest requested layer; randomly initialised.

    ``forward`` maps images in [-1, 1] (B, 1 or 3, H, W) to {layer name: activation}.
    """

    def __init__(self, name: str, layers: Sequence[str]) -> None:
        super().__init__()
        if name not in VGG_BLOCKS:
            raise GankitError(f"unknown VGG {name!r}; known: {', '.join(VGG_BLOCKS)}")
        names = vgg_layer_names(name)
        _check_layers(name, layers, names)
        self.layers, self.names = tuple(layers), names
        depth = max(names.index(layer) for layer in layers) + 1
        modules: list[nn.Module] = []
        fan_in = 3
        for layer in names[:depth]:  # the same indices as torchvision's `features`
            if layer.startswith("conv"):
                width = VGG_BLOCKS[name][int(layer[4]) - 1][0]
                modules.append(nn.Conv2d(fan_in, width, 3, padding=1))
                fan_in = width
            elif layer.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))  # inplace would overwrite conv taps
            else:
                modules.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*modules)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        x = (to_rgb(images.float()) + 1) / 2  # [-1, 1] -> [0, 1], torchvision's input range
        x = (x - self.mean) / self.std
        wanted, out = set(self.layers), {}
        for layer, module in zip(self.names, self.features, strict=False):
            x = module(x)
            if layer in wanted:
                out[layer] = x
        return out


class FashionFeatures(nn.Module):
    """The conv stages of gankit's Fashion-MNIST classifier, run on grey images of any size."""

    def __init__(self, layers: Sequence[str], weights: str | Path | None = None) -> None:
        super().__init__()
        _check_layers("fashion", layers, FASHION_LAYERS)
        classifier = load_classifier(weights or FASHION_WEIGHTS)
        depth = max(FASHION_LAYERS.index(layer) for layer in layers) + 1
        self.stages = nn.ModuleList(list(classifier.stages)[:depth])
        self.layers = tuple(layers)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        x, out = to_grey(images.float()), {}
        for index, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if f"stage{index}" in self.layers:
                out[f"stage{index}"] = x
            x = F.max_pool2d(x, 2, ceil_mode=True)  # ceil: odd sizes lose no border
        return out


class FrozenFeatures(nn.Module):
    """A frozen feature network that keeps no state in its owner's state_dict.

    The wrapped network is held outside the module tree (so neither optimizers, nor checkpoints,
    nor `load_state_dict` see it); device and dtype moves (`to`, `cuda`, ...) still reach it.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        self.__dict__["network"] = network.eval()

    def _apply(self, fn: Callable, recurse: bool = True) -> FrozenFeatures:  # type: ignore[override]
        self.__dict__["network"]._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> FrozenFeatures:
        """Stays in eval mode: batch norm statistics of a fixed network must not move."""
        return super().train(False)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """{layer: activation (B, C_l, H_l, W_l)} of images in [-1, 1] (B, 1 or 3, H, W)."""
        return self.__dict__["network"](images)


def find_vgg_weights(name: str, path: str | Path | None) -> Path:
    """`path`, else torchvision's file in the torch hub cache; a GankitError saying where to put
    it when there is none (gankit never downloads weights)."""
    candidate = (
        Path(path).expanduser()
        if path is not None
        else Path(torch.hub.get_dir()) / "checkpoints" / VGG_FILES[name]
    )
    if not candidate.is_file():
        raise GankitError(
            f"{name} weights not found at {candidate}; put torchvision's {VGG_FILES[name]} there "
            "(or pass its path), or use the offline feature network 'fashion'"
        )
    return candidate


def read_state(path: Path) -> dict[str, Tensor]:
    """A state_dict from a .safetensors file or a PyTorch file (tensors only, never code)."""
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (torch and safetensors raise many types)
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise GankitError(f"{path}: cannot read as a state_dict ({message})") from None
    if not isinstance(state, dict):
        raise GankitError(f"{path}: not a state_dict (a {type(state).__name__})")
    return state


def load_vgg(name: str, layers: Sequence[str], path: str | Path | None = None) -> VGGFeatures:
    """`VGGFeatures` with torchvision-format weights; the file and its first bad key on a mismatch.

    Every ``features.*`` weight of the full network must be there with its shape; torchvision's
    ``classifier.*`` (the dense layers) are allowed and ignored; any other key is refused.
    """
    network = VGGFeatures(name, layers)
    weights = find_vgg_weights(name, path)
    state = read_state(weights)
    expected = vgg_shapes(name)
    for key, shape in expected.items():
        if key not in state:
            raise GankitError(f"{weights}: missing weight {key!r} (not a torchvision {name}?)")
        if tuple(state[key].shape) != shape:
            raise GankitError(
                f"{weights}: weight {key!r} has shape {tuple(state[key].shape)}, expected {shape}"
            )
    for key in state:
        if key not in expected and not key.startswith("classifier."):
            raise GankitError(f"{weights}: unexpected weight {key!r} (not a torchvision {name}?)")
    own = network.features.state_dict()
    network.features.load_state_dict({k: state[f"features.{k}"].float() for k in own})
    return network


def feature_network(
    name: str, layers: Sequence[str], weights: str | Path | None = None
) -> FrozenFeatures:
    """A frozen network mapping images in [-1, 1] (B, 1 or 3, H, W) to {layer: activation}.

    `name`: "fashion" (shipped, offline), "vgg16" or "vgg19" (torchvision weights from `weights`,
    else the torch hub cache). `layers`: names as in `CONTENT_LAYER` / `STYLE_LAYERS`.
    """
    loaders: dict[str, Callable[[], nn.Module]] = {
        "fashion": lambda: FashionFeatures(layers, weights),
        "vgg16": lambda: load_vgg("vgg16", layers, weights),
        "vgg19": lambda: load_vgg("vgg19", layers, weights),
    }
    if name not in loaders:
        raise GankitError(f"unknown feature network {name!r}; known: {', '.join(loaders)}")
    network = loaders[name]()
    return FrozenFeatures(network)
