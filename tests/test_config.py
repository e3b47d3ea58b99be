import pytest

import gankit
from gankit import config as config_io
from gankit.errors import GankitError


def test_presets_share_the_dcgan_code_with_different_values():
    lsgan, wgan_gp = gankit.preset("lsgan"), gankit.preset("wgan-gp")
    assert lsgan.model.arch == wgan_gp.model.arch == "dcgan"
    assert lsgan.model.adversarial == "least_squares"
    assert (wgan_gp.model.gp_weight, wgan_gp.train.d_steps, wgan_gp.train.beta1) == (10.0, 1, 0.0)
    paper = gankit.preset("wgan-gp-paper")  # the published recipe stays one name away
    assert (paper.train.d_steps, paper.train.lr, paper.train.beta2) == (5, 1e-4, 0.9)
    assert (paper.model.d_norm, paper.train.precision) == ("none", "fp32")
    wgan = gankit.preset("wgan")
    assert (wgan.train.optimizer, wgan.train.lr, wgan.model.clip) == ("rmsprop", 5e-5, 0.01)


def test_overrides_are_typed_and_checked():
    config = gankit.preset("cgan")
    config_io.apply_overrides(
        config,
        [
            "train.lr=2e-4",
            "model.z_dim=64",
            "train.ema=0",
            "train.eval_metrics=fid,kid",
            "data.spec=mnist:/x",
        ],
    )
    assert config.train.lr == 2e-4 and config.model.z_dim == 64
    assert config.train.ema == 0.0 and isinstance(config.train.ema, float)
    assert config.train.eval_metrics == ["fid", "kid"] and config.data.spec == "mnist:/x"
    with pytest.raises(GankitError, match="unknown key 'train.nope'"):
        config_io.apply_overrides(config, ["train.nope=1"])
    with pytest.raises(GankitError, match="train.steps must be int"):
        config_io.apply_overrides(config, ["train.steps=lots"])
    with pytest.raises(GankitError, match="expected key=value"):
        config_io.apply_overrides(config, ["train.lr"])


def test_toml_round_trip(tmp_path):
    config = gankit.preset("wgan-gp")
    config.seed, config.train.steps = 7, 123
    config_io.save(config, tmp_path / "config.toml")
    again = config_io.load(tmp_path / "config.toml")
    assert again == config


def test_bad_toml_and_unknown_sections(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("name = 'dcgan'\n[train\n")
    with pytest.raises(GankitError, match="invalid TOML"):
        config_io.load(path)
    path.write_text("name = 'dcgan'\nbogus = 1\n")
    with pytest.raises(GankitError, match="unknown key 'bogus'"):
        config_io.load(path)
