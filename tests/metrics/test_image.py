"""Known answers for PSNR, SSIM and the BT.601 luma."""

import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.image import gaussian_window, psnr, rgb_to_y, ssim


def random_images(shape=(2, 3, 32, 32), seed=0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_psnr_of_identical_images_is_infinite():
    images = random_images()
    assert torch.isinf(psnr(images, images)).all()


def test_psnr_of_a_known_mse():
    a = torch.zeros(1, 1, 8, 8)
    assert psnr(a, a + 0.1, data_range=1.0).item() == pytest.approx(20.0)  # MSE 0.01
    b = torch.full((1, 3, 8, 8), 100.0)
    expected = 10 * math.log10(255**2 / 25)  # MSE 25 on the 0-255 scale
    assert psnr(b, b + 5, data_range=255).item() == pytest.approx(expected)


def test_psnr_is_per_image():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])
    torch.testing.assert_close(psnr(a, b), torch.tensor([20.0, 40.0], dtype=torch.float64))


def test_ssim_of_identical_images_is_one():
    images = random_images()
    torch.testing.assert_close(ssim(images, images), torch.ones(2, dtype=torch.float64))


def test_ssim_of_constant_images_follows_the_luminance_term():
    # Flat images have zero variance, so only the luminance factor of Eq. 13 remains.
    a, b = torch.full((1, 1, 16, 16), 0.2), torch.full((1, 1, 16, 16), 0.6)
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert ssim(a, b).item() == pytest.approx(expected, rel=1e-6)


def test_ssim_falls_as_noise_grows():
    clean = random_images((1, 1, 32, 32), seed=1)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    scores = [ssim(clean, clean + level * noise).item() for level in (0.01, 0.1, 0.5)]
    assert 1 > scores[0] > scores[1] > scores[2]


def test_ssim_is_symmetric_and_accepts_single_images():
    a, b = random_images((3, 16, 16), 3), random_images((3, 16, 16), 4)
    assert ssim(a, b).shape == (1,)
    torch.testing.assert_close(ssim(a, b), ssim(b, a))


def test_gaussian_window_is_normalised():
    window = gaussian_window(11, 1.5)
    assert window.shape == (11, 11) and window.sum().item() == pytest.approx(1.0)
    assert window[5, 5] == window.max()


def test_ssim_needs_images_at_least_the_window_size():
    with pytest.raises(GankitError, match="11x11"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_shape_mismatch_is_an_error():
    with pytest.raises(GankitError, match="differ in shape"):
        psnr(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))


def test_rgb_to_y_uses_bt601_studio_range():
    white, black = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    assert rgb_to_y(white).flatten()[0].item() == pytest.approx(235 / 255, abs=1e-4)
    assert rgb_to_y(black).flatten()[0].item() == pytest.approx(16 / 255)
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 255
    assert rgb_to_y(red, data_range=255).item() == pytest.approx(16 + 65.481, abs=1e-3)
    assert rgb_to_y(white).shape == (1, 1, 2, 2)


def test_rgb_to_y_rejects_grey():
    with pytest.raises(GankitError, match="RGB"):
        rgb_to_y(torch.zeros(1, 1, 4, 4))
