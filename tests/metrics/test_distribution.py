"""Known answers for FID, KID, IS and precision/recall."""

import math

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.distribution import (
    density_coverage,
    feature_statistics,
    fid_from_features,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
    sqrt_psd,
)


def gaussian_features(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator) + shift


def test_identical_sets_give_zero_fid():
    features = gaussian_features(500, 16, seed=0)
    assert fid_from_features(features, features) == pytest.approx(0.0, abs=1e-8)


def test_statistics_are_float64_mean_and_unbiased_covariance():
    features = gaussian_features(300, 8, seed=1).numpy()
    mu, sigma = feature_statistics(features)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, features.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-5, atol=1e-6)


def test_one_dimensional_gaussians_closed_form():
    # d^2 = (m1 - m2)^2 + (s1 - s2)^2 for N(m1, s1^2) and N(m2, s2^2)
    value = frechet_distance([1.0], [[4.0]], [3.0], [[9.0]])
    assert value == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)


def test_diagonal_gaussians_closed_form():
    var1, var2 = np.array([1.0, 2.0, 0.5, 3.0]), np.array([4.0, 0.1, 0.5, 1.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected)


def test_general_gaussians_match_the_matrix_square_root_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    sigma1, sigma2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # sqrt(S1 S2) = S1^(1/2) (S1^(1/2) S2 S1^(1/2))^(1/2) S1^(-1/2), so its trace is the trace of
    # the symmetric middle root; an independent route through the eigenvalues of S1 S2:
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2) - 2 * np.sqrt(eigenvalues).sum()
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_shifting_features_by_d_adds_its_squared_norm():
    features = gaussian_features(1000, 12, seed=2)
    shift = torch.linspace(-1, 2, 12)
    expected = float((shift.double() ** 2).sum())
    assert fid_from_features(features, features + shift) == pytest.approx(expected, rel=1e-6)


def test_near_singular_covariances_give_a_real_finite_distance():
    rng = np.random.default_rng(3)
    low_rank = rng.normal(size=(64, 5))
    sigma = low_rank @ low_rank.T  # rank 5 of 64: scipy's sqrtm reports imaginary parts here
    mu = np.zeros(64)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    other = sigma + 1e-12 * np.eye(64)
    value = frechet_distance(mu, sigma, mu + 1, other)
    assert math.isfinite(value) and value == pytest.approx(64.0, rel=1e-4)


def test_sqrt_psd_squares_back():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 5))
    matrix = a @ a.T
    root = sqrt_psd(matrix)
    np.testing.assert_allclose(root @ root, matrix, atol=1e-10)


def test_too_few_samples_for_fid_is_a_clear_error():
    with pytest.raises(GankitError, match="need at least 129"):
        feature_statistics(gaussian_features(100, 128, seed=0))


def test_mismatched_statistics_are_an_error():
    with pytest.raises(GankitError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_kid_of_identical_distributions_is_about_zero():
    a, b = gaussian_features(2000, 32, seed=5), gaussian_features(2000, 32, seed=6)
    mean, std = kernel_inception_distance(a, b, subsets=20, subset_size=500)
    assert abs(mean) < 3 * std / math.sqrt(20) + 1e-3
    shifted, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=500)
    assert shifted > 0.1 and shifted > 50 * abs(mean)


def test_kid_is_seeded_and_clips_the_subset_size():
    a, b = gaussian_features(50, 4, seed=7), gaussian_features(60, 4, seed=8)
    assert kernel_inception_distance(a, b, subsets=5) == kernel_inception_distance(a, b, subsets=5)
    with pytest.raises(GankitError, match="at least 2 samples"):
        kernel_inception_distance(a[:1], b)


def test_inception_score_of_a_confident_uniform_classifier_equals_the_class_count():
    probs = torch.nn.functional.one_hot(torch.arange(1000) % 10, 10).double()
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_one_class_or_uniform_predictions_is_one():
    one_class = torch.zeros(100, 5)
    one_class[:, 2] = 1
    assert inception_score(one_class, splits=5)[0] == pytest.approx(1.0)
    assert inception_score(torch.full((100, 5), 0.2), splits=5)[0] == pytest.approx(1.0)


def test_inception_score_rejects_logits():
    with pytest.raises(GankitError, match="probabilities"):
        inception_score(torch.randn(100, 5))


def test_precision_recall_of_identical_sets_is_one():
    features = gaussian_features(400, 8, seed=9)
    assert precision_recall(features, features.clone(), k=3) == (1.0, 1.0)


def test_precision_recall_of_disjoint_far_sets_is_zero():
    real = gaussian_features(300, 8, seed=10)
    fake = gaussian_features(300, 8, seed=11, shift=100.0)
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_separates_fidelity_from_diversity():
    # Fakes collapsed onto a small part of the real distribution: high precision, low recall.
    real = gaussian_features(2000, 2, seed=12)
    fake = gaussian_features(2000, 2, seed=13) * 0.1
    precision, recall = precision_recall(real, fake, k=3, batch_size=256)
    assert precision > 0.9 and recall < 0.3


def test_precision_recall_needs_more_samples_than_k():
    with pytest.raises(GankitError, match="more than 3 samples"):
        precision_recall(gaussian_features(3, 4, 0), gaussian_features(10, 4, 1), k=3)


def test_density_coverage_of_identical_and_disjoint_sets():
    features = gaussian_features(500, 8, seed=14)
    density, coverage = density_coverage(features, features.clone())
    assert coverage == 1.0 and 0.8 < density < 2.0
    far = gaussian_features(500, 8, seed=15, shift=100.0)
    assert density_coverage(features, far) == (0.0, 0.0)


def test_density_coverage_resist_a_real_outlier_that_fools_precision():
    # One real outlier at (20, 0) has a k-NN ball reaching back to the cloud; fakes collapsed
    # inside it look perfect to precision, but only one real ball holds them.
    real = torch.cat([gaussian_features(500, 2, seed=16), torch.tensor([[20.0, 0.0]])])
    fake = torch.tensor([[10.0, 0.0]]) + 0.01 * gaussian_features(501, 2, seed=17)
    precision, recall = precision_recall(real, fake, k=5)
    density, coverage = density_coverage(real, fake, k=5)
    assert precision == 1.0 and recall < 0.01
    assert density == pytest.approx(1 / 5) and coverage == pytest.approx(1 / 501)
