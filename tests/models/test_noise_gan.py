"""NoiseGAN's auxiliary classifier: AC-GAN on real labels, InfoGAN on latent codes."""

import math

import torch
import torch.nn.functional as F

from gankit.models.gan import NoiseGAN, NoiseGANConfig


def model(**overrides) -> NoiseGAN:
    torch.manual_seed(0)
    config = NoiseGANConfig(z_dim=8, image_size=16, channels=1, width=4, d_norm="none")
    for key, value in overrides.items():
        setattr(config, key, value)
    return NoiseGAN(config)


def batch(n: int = 12, classes: int = 3) -> dict:
    torch.manual_seed(1)
    return {"image": torch.rand(n, 1, 16, 16) * 2 - 1, "label": torch.arange(n) % classes}


def test_ac_gan_classifies_real_labels_for_d_and_fakes_for_g():
    gan = model(conditional=True, num_classes=3, class_weight=0.5)
    data = batch()
    losses = gan.discriminator_loss(data, 0)
    _, real_classes = gan.discriminator(data["image"], data["label"], classify=True)
    assert real_classes.shape == (12, 3)
    assert torch.allclose(losses["class_d"], F.cross_entropy(real_classes, data["label"]))
    fake, labels, codes = gan._fakes
    assert torch.equal(codes, data["label"])  # the fakes are asked for the batch's classes
    _, fake_classes = gan.discriminator(fake, labels, classify=True)
    g_losses = gan.generator_loss(data, 0)
    assert torch.allclose(g_losses["class_g"], F.cross_entropy(fake_classes, labels))
    assert torch.allclose(g_losses["loss"], g_losses["loss_g"] + 0.5 * g_losses["class_g"])


def test_info_gan_code_is_learned_from_the_fakes():
    gan = model(latent_classes=4, class_weight=1.0)
    assert gan.num_classes == 0 and gan.generator.num_classes == 4
    data = batch()
    losses = gan.discriminator_loss(data, 0)
    fake, labels, codes = gan._fakes
    assert labels is None and codes.shape == (12,) and codes.min() >= 0 and codes.max() < 4
    _, fake_classes = gan.discriminator(fake.detach(), None, classify=True)
    assert torch.allclose(losses["class_d"], F.cross_entropy(fake_classes, codes))
    # The samples' codes come from the seed: same seed, same images; another seed, others.
    assert torch.equal(gan.sample(5, seed=3), gan.sample(5, seed=3))
    assert not torch.equal(gan.sample(5, seed=3), gan.sample(5, seed=4))


def test_info_gan_code_becomes_recognisable():
    """A few dozen updates make D's Q head tell the generator's codes apart (loss < log 4)."""
    gan = model(latent_classes=4, class_weight=1.0)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-3, betas=(0.5, 0.99))
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=2e-3, betas=(0.5, 0.99))
    data = batch(32)
    for step in range(60):
        losses = gan.discriminator_loss(data, step)
        d_opt.zero_grad()
        losses["loss"].backward()
        d_opt.step()
        g_losses = gan.generator_loss(data, step)
        g_opt.zero_grad()
        g_losses["loss"].backward()
        g_opt.step()
    assert g_losses["class_g"].item() < 0.5 * math.log(4)
