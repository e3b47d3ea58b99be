"""DCGAN networks: Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks".

Generator: a transposed convolution projects z to base x base (4, or 7 for 28 x 28 data), then
stride-2 transposed convolutions with batch norm and ReLU double the resolution, a tanh output
(Sec. 3 and Fig. 1). Discriminator: stride-2 convolutions with LeakyReLU(0.2) and batch norm (none
on the input layer), a final linear logit. Widths halve as resolution doubles; N(0, 0.02) init.
Presets built on these networks: dcgan, lsgan (Mao et al. 2017), wgan, wgan-gp, cgan.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.models.gan import (
    NETWORKS,
    NoiseGANConfig,
    classifier_classes,
    condition_classes,
    generator_classes,
    label_input,
)
from gankit.models.registry import Preset, register_preset
from gankit.nn.blocks import (
    NORMS,
    ConditionalHead,
    MinibatchStd,
    conv_geometry,
    one_hot_input,
    runs_channels_last,
)
from gankit.nn.group_grad import GroupGradConv2d, GroupGradConvTranspose2d
from gankit.nn.patch_conv import PatchConv2d, PatchConvTranspose2d


class DCGANGenerator(nn.Module):
    """G(z [, y]): (B, Z) -> (B, C, S, S) in [-1, 1].

    The first layer "projects and reshapes" z (Sec. 3 of the paper): a linear map to
    (width, base, base). That is the same function as the reference code's transposed convolution
    with a base x base kernel on a 1 x 1 input, computed as one matrix product (far faster on CPU).
    """

    def __init__(self, config: NoiseGANConfig) -> None:
        super().__init__()
        base, ups = conv_geometry(config.image_size)
        self.num_classes = generator_classes(config)
        widths = [config.width * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. 128, 64 for 28px
        norm = NORMS.get(config.g_norm)
        self.shape = (widths[0], base, base)
        self.project = nn.Linear(
            config.z_dim + self.num_classes, widths[0] * base * base, bias=False
        )
        layers: list[nn.Module] = [norm(widths[0]), nn.ReLU()]
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [
                GroupGradConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=False),
                norm(fan_out),
                nn.ReLU(),  # not in place: its backward then keeps NHWC (measured)
            ]
        layers += [PatchConvTranspose2d(widths[-1], config.channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        projected = self.project(one_hot_input(z, labels, self.num_classes))
        x = projected.view(-1, *self.shape)  # (B, width, base, base)
        if runs_channels_last(self):  # then every layer runs NHWC
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)


class DCGANDiscriminator(nn.Module):
    """D(x [, y]): (B, C, S, S) -> (B,) logits."""

    def __init__(self, config: NoiseGANConfig) -> None:
        super().__init__()
        base, downs = conv_geometry(config.image_size)
        self.num_classes = condition_classes(config)
        self.concat = config.conditioning == "concat" and self.num_classes > 0
        width = config.d_width or config.width
        widths = [width * 2**i for i in range(downs)]  # e.g. 64, 128 for 28px
        norm = NORMS.get(config.d_norm)
        in_channels = config.channels + (self.num_classes if self.concat else 0)
        layers: list[nn.Module] = [
            PatchConv2d(in_channels, widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for fan_in, fan_out in zip(widths, widths[1:], strict=False):
            layers += [
                GroupGradConv2d(fan_in, fan_out, 4, 2, 1, bias=False),
                norm(fan_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        spread = [MinibatchStd(config.minibatch_std)] if config.minibatch_std > 0 else []
        self.trunk = nn.Sequential(*layers, *spread)  # the head flattens
        self.head = ConditionalHead(
            (widths[-1] + len(spread)) * base * base,
            self.num_classes,
            config.conditioning,
            classifier_classes(config),
        )

    def forward(
        self, images: Tensor, labels: Tensor | None = None, classify: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits (B,); with `classify`, also the auxiliary class logits (B, K)."""
        features = self.trunk(label_input(images, labels, self.num_classes, self.concat))
        return self.head(features, labels, classify)


@NETWORKS.register("dcgan")
def build_dcgan(config: NoiseGANConfig) -> tuple[nn.Module, nn.Module]:
    """The DCGAN generator and discriminator at the config's image size and channels."""
    return DCGANGenerator(config), DCGANDiscriminator(config)


# gankit's default recipe on the DCGAN nets, measured on 2 CPU cores (bench/quality.py; the numbers
# are in bench/results/ and the issue notes). At a fixed wall-clock budget the FID is mostly a
# function of the number of updates, so the recipe buys updates: bf16 autocast, NHWC end to end,
# one generator forward per step (the D-step fakes reused), real and fake through D as one batch
# when D has no batch norm (gankit.models.gan), the one-channel layers as GEMMs
# (gankit.nn.patch_conv), the wide layers' weight gradients as two-group convolutions
# (gankit.nn.group_grad) and fused Adam make a step more than 2x as fast as the plain loop
# (bench/speed.py --repeats 5, medians of 5: dcgan 2.12x, cgan 2.27x, wgan-gp 5.99x; before the
# joint D batch and the grouped weight gradients dcgan was at 1.91-1.95x on this shared VM), and
# batch 64 gives more updates per second than 128 (32 gives too noisy ones). Adam(8e-4, 0, 0.99)
# with a linear decay over the second half of the run and an EMA of G learn faster per update than
# Adam(2e-4, 0.5). The paper's recipe stays available as "<name>-paper".
FAST = {
    "precision": "auto",
    # Measured after the networks went NHWC end to end (bench/speed.py style, interleaved with the
    # plain loop, batch 128, 2 cores): torch.compile's kernels are slower than eager oneDNN, with
    # or without batch norm in D: cgan 1009 vs 1140 img/s, dcgan 1103 vs 1319.
    "compile": False,
    "batch_size": 64,
    "lr": 8e-4,
    "beta1": 0.0,
    "beta2": 0.99,
    "lr_decay_start": 0.5,
    "ema": 0.999,
    "steps": 10000,
}
FAST_WHY = (
    "bf16 autocast where the CPU/GPU has it, NHWC end to end, the D-step fakes reused for the G "
    "step, CPU-tuned layers (bench/speed.py: over 2x the plain loop's images per second on the "
    "same nets and batch), batch 64, Adam(8e-4, 0, 0.99) decaying linearly to 0 over the second "
    "half, an EMA of G: more updates and more progress per update, so a far better FID at a "
    "fixed time budget (bench/quality.py)."
)
PAPER_TRAIN = {"precision": "fp32", "ema": 0.0}
RADFORD = (
    "Radford, Metz & Chintala 2015, Unsupervised Representation Learning with DCGANs (ICLR 2016)"
)
MAO = "Mao et al. 2017, Least Squares Generative Adversarial Networks (ICCV)"
ARJOVSKY = "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN (ICML)"
GULRAJANI = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs (NeurIPS)"

register_preset(
    Preset(
        "dcgan",
        "noise-gan",
        RADFORD,
        "DCGAN nets, non-saturating loss, gankit's fast recipe, conditioned on 20 data clusters",
        model={"arch": "dcgan", "d_norm": "none", "clusters": 20},
        train=FAST,
        # Measured at 240 s: without batch norm in D the FID after 3124 updates (19.8) matched
        # that of 4309 updates with it (19.7); a minibatch-std channel or width 32 did not help.
        # Measured at 3000 steps (n 5000): FID 20.5 unconditioned; conditioned on k-means
        # clusters of the data, K = 20: 8.2, K = 50: 8.0 (k-means 1 s vs 4 s); with an auxiliary
        # cluster classifier in D (weight 1) worse: K = 10 / 20 / 50 / 100 / 200: 12.0 / 10.5 /
        # 10.7 / 9.2 / 8.7, lower recall.
        why=FAST_WHY
        + " No batch norm in D: more progress per update. G and D are conditioned on 20 k-means"
        " clusters of the training images' pooled pixels (found once, in about a second, before"
        " training; no labels, no pretrained network; samples draw clusters by their share of"
        " the data): FID 8.2 instead of 20.5 after 3000 steps. model.clusters=0 turns it off.",
    )
)
register_preset(
    Preset(
        "dcgan-paper",
        "noise-gan",
        RADFORD,
        "DCGAN exactly as published: Adam(2e-4, 0.5), fp32",
        model={"arch": "dcgan", "reuse_fakes": False},
        train={**PAPER_TRAIN, "lr": 2e-4, "beta1": 0.5},
    )
)
register_preset(
    Preset(
        "lsgan",
        "noise-gan",
        MAO,
        "DCGAN nets with the least-squares loss (a=0, b=c=1)",
        model={"arch": "dcgan", "adversarial": "least_squares"},
        train=FAST,
        why=FAST_WHY,
    )
)
register_preset(
    Preset(
        "wgan",
        "noise-gan",
        ARJOVSKY,
        "DCGAN nets, critic without sigmoid, weight clipping 0.01, RMSprop 5e-5, 5 critic steps",
        model={"arch": "dcgan", "adversarial": "wasserstein", "clip": 0.01, "reuse_fakes": False},
        train={**PAPER_TRAIN, "optimizer": "rmsprop", "lr": 5e-5, "d_steps": 5},
    )
)
register_preset(
    Preset(
        "wgan-gp",
        "noise-gan",
        GULRAJANI,
        "DCGAN nets, layer-normed critic, gradient penalty 10, one critic step, fast recipe",
        model={"arch": "dcgan", "adversarial": "wasserstein", "gp_weight": 10.0, "d_norm": "layer"},
        train={**FAST, "lr": 4e-4, "d_steps": 1},
        why=(
            "One critic step per G step instead of 5 (measured at 240 s: 2 critic steps gave FID "
            "38.6, 1 gave 30.1: with the penalty keeping the critic Lipschitz, 5x the generator "
            "updates win), Adam(4e-4, 0, 0.99), batch 64, bf16, linear lr decay, EMA of G."
        ),
    )
)
register_preset(
    Preset(
        "wgan-gp-paper",
        "noise-gan",
        GULRAJANI,
        "WGAN-GP as published: no critic norm, lambda 10, Adam(1e-4, 0, 0.9), 5 critic steps",
        model={
            "arch": "dcgan",
            "adversarial": "wasserstein",
            "gp_weight": 10.0,
            "d_norm": "none",
            "reuse_fakes": False,
        },
        train={**PAPER_TRAIN, "lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "d_steps": 5},
    )
)
