"""Every model family refuses out-of-range hyper-parameters in one line, before building nets."""

import math
import re

import pytest

from gankit.errors import GankitError
from gankit.models.base import check_ranges
from gankit.models.cyclegan import CycleGAN, CycleGANConfig
from gankit.models.pix2pix import Pix2Pix, Pix2PixConfig
from gankit.models.srgan import SRGAN, SRGANConfig
from gankit.models.stargan import StarGAN, StarGANConfig
from gankit.models.style_transfer import StyleTransfer, StyleTransferConfig
from gankit.models.stylegan import StyleGAN, StyleGANConfig

SIZED = {"image_size": 16, "channels": 1}


@pytest.mark.parametrize(
    ("family", "config", "overrides", "message"),
    [
        (Pix2Pix, Pix2PixConfig, {"width": 0}, "model.width must be positive, got 0"),
        (Pix2Pix, Pix2PixConfig, {"dropout": 1.5}, "model.dropout must be in [0, 1], got 1.5"),
        (Pix2Pix, Pix2PixConfig, {"l1_weight": -1.0}, "model.l1_weight must be 0 or positive"),
        (CycleGAN, CycleGANConfig, {"d_width": 0}, "model.d_width must be positive, got 0"),
        (CycleGAN, CycleGANConfig, {"pool_size": -1}, "model.pool_size must be 0 (off) or"),
        (CycleGAN, CycleGANConfig, {"cycle_weight": math.nan}, "cycle_weight must be 0 or po"),
        (StarGAN, StarGANConfig, {"num_classes": 3, "blocks": -1}, "model.blocks must be 0"),
        (StarGAN, StarGANConfig, {"num_classes": 3, "gp_weight": -10.0}, "model.gp_weight must"),
        (SRGAN, SRGANConfig, {"d_dense": 0}, "model.d_dense must be positive, got 0"),
        (SRGAN, SRGANConfig, {"pixel_weight": -1.0}, "model.pixel_weight must be 0 or positive"),
        (StyleGAN, StyleGANConfig, {"mixing": 2.0}, "model.mixing must be in [0, 1], got 2.0"),
        (StyleGAN, StyleGANConfig, {"r1_gamma": -1.0}, "model.r1_gamma must be 0 or positive"),
        (StyleTransfer, StyleTransferConfig, {"width": 0}, "model.width must be positive, got 0"),
        (StyleTransfer, StyleTransferConfig, {"tv_weight": -1.0}, "model.tv_weight must be 0 or"),
    ],
)
def test_each_family_refuses_values_out_of_range(family, config, overrides, message):
    with pytest.raises(GankitError, match=re.escape(message)):
        family(config(**SIZED, **overrides))


def test_check_ranges_names_the_key_the_rule_and_the_value():
    class Config:
        width, off, weight, share = 4, 0, 0.0, 1.0

    check_ranges(Config, positive=("width",), off_or_positive=("off",), non_negative=("weight",))
    check_ranges(Config, unit=("share",))
    for key, value, rule in [
        ("width", 0, "positive"),
        ("off", -1, "0 (off) or positive"),
        ("weight", math.nan, "0 or positive"),
        ("share", 1.01, "in [0, 1]"),
    ]:
        bad = type("Bad", (Config,), {key: value})
        with pytest.raises(GankitError, match=re.escape(f"model.{key} must be {rule}, got")):
            check_ranges(
                bad,
                positive=("width",),
                off_or_positive=("off",),
                non_negative=("weight",),
                unit=("share",),
            )
