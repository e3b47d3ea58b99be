"""Distances between feature distributions: FID, KID, Inception Score, precision and recall.

All take features (N, D) as torch tensors or numpy arrays (any float dtype) and return Python
floats. The sums that lose precision (covariances, the matrix square root, kernel means) are done
in float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gankit.errors import GankitError

ArrayLike = Tensor | np.ndarray


def as_float64(features: ArrayLike, name: str = "features") -> Tensor:
    """`features` as a float64 CPU tensor (N, D)."""
    tensor = torch.as_tensor(np.asarray(features) if not isinstance(features, Tensor) else features)
    tensor = tensor.detach().to("cpu", torch.float64)
    if tensor.dim() != 2:
        shape = tuple(tensor.shape)
        raise GankitError(f"{name} must be a 2-d array (samples, dims); got shape {shape}")
    if not torch.isfinite(tensor).all():
        raise GankitError(f"{name} contain NaN or infinite values (did the generator diverge?)")
    return tensor


def check_enough_samples(count: int, dim: int, metric: str = "FID") -> None:
    """Fail unless a (dim x dim) covariance of `count` samples can be full rank (count > dim).

    The sample covariance of n points has rank at most n - 1, so with n <= D it is singular and the
    Fréchet distance is dominated by the missing directions, not by the images.
    """
    if count <= dim:
        raise GankitError(
            f"{metric} needs more samples than feature dimensions: got {count} samples of "
            f"{dim}-d features, need at least {dim + 1} (10000 is the usual choice)"
        )


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of `features` (N, D), both float64.

    A GankitError when N <= D (the covariance would be singular; see `check_enough_samples`).
    """
    values = as_float64(features)
    check_enough_samples(values.shape[0], values.shape[1])
    mean = values.mean(0)
    centred = values - mean
    covariance = centred.T @ centred / (values.shape[0] - 1)
    return mean.numpy(), covariance.numpy()


def sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix.

    Eigenvalues that rounding made slightly negative are clipped to zero, so a near-singular
    covariance gives a real root instead of the "imaginary component" failure of scipy's sqrtm.
    """
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(sigma1 sigma2) for PSD sigma1, sigma2, computed stably.

    sigma1 sigma2 is similar to the symmetric PSD matrix sqrt(sigma1) sigma2 sqrt(sigma1), whose
    eigenvalues are real and non-negative: their square roots sum to the trace we want.
    """
    root1 = sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Eq. 6 of Heusel et al. 2017).

    d^2 = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)), in float64 (Dowson &
    Landau 1982). Tiny negative results of rounding are returned as 0.
    """
    mu1, mu2 = (np.asarray(m, dtype=np.float64).reshape(-1) for m in (mu1, mu2))
    sigma1, sigma2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise GankitError(
            f"statistics do not match: means {mu1.shape} and {mu2.shape}, covariances "
            f"{sigma1.shape} and {sigma2.shape} (computed with different feature networks?)"
        )
    mean_term = float(((mu1 - mu2) ** 2).sum())
    trace_term = float(np.trace(sigma1) + np.trace(sigma2)) - 2 * trace_sqrt_product(sigma1, sigma2)
    return max(mean_term + trace_term, 0.0)


def fid_from_features(real: ArrayLike, fake: ArrayLike) -> float:
    """FID between two feature sets (N, D)."""
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def polynomial_mmd2(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD^2 between samples x, y (m, D) with k(a, b) = (a.b / D + 1)^3.

    Eq. 4 of Binkowski et al. 2018 (the kernel of their Sec. 3 / Appendix D): diagonal terms
    k(x_i, x_i) are left out of the within-set means, which makes the estimate unbiased.
    """
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    off_diagonal = k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()
    within = off_diagonal / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kernel_inception_distance(
    a: ArrayLike, b: ArrayLike, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): mean and std of the unbiased polynomial MMD^2 over subsets.

    Each of `subsets` draws `subset_size` samples without replacement from each set (fewer when a
    set is smaller), as in the reference implementation; the draw is seeded.
    """
    x, y = as_float64(a, "first features"), as_float64(b, "second features")
    if x.shape[1] != y.shape[1]:
        raise GankitError(f"KID: feature sizes differ ({x.shape[1]} vs {y.shape[1]})")
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise GankitError(f"KID needs at least 2 samples per set; got {len(x)} and {len(y)}")
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        pick_x = torch.randperm(len(x), generator=generator)[:size]
        pick_y = torch.randperm(len(y), generator=generator)[:size]
        values.append(polynomial_mmd2(x[pick_x], y[pick_y]))
    return float(np.mean(values)), float(np.std(values))


def inception_score(probs: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), mean and std over splits.

    `probs` (N, C) are class probabilities (rows sum to 1). As in the original code, the N samples
    are cut into `splits` consecutive parts, p(y) is each part's mean prediction, and the score's
    mean and standard deviation over parts are returned.
    """
    p = as_float64(probs, "class probabilities")
    if len(p) < splits:
        raise GankitError(f"Inception Score needs at least {splits} samples (one per split)")
    if (p < -1e-6).any() or not torch.allclose(
        p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-3
    ):
        raise GankitError("Inception Score needs probabilities (non-negative rows summing to 1)")
    p = p.clamp_min(0)
    scores = []
    for part in p.tensor_split(splits):
        marginal = part.mean(0, keepdim=True).clamp_min(1e-30)
        kl = torch.special.xlogy(part, part / marginal).sum(1)
        scores.append(float(torch.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def knn_radii(features: Tensor, k: int, batch_size: int = 1024) -> Tensor:
    """Distance of each sample to its k-th nearest other sample (N,), by batched cdist."""
    radii = []
    for part in features.split(batch_size):
        distances = torch.cdist(part, features)  # (B, N), includes the zero self-distance
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def coverage_fraction(
    queries: Tensor, centres: Tensor, radii: Tensor, batch_size: int = 1024
) -> float:
    """Fraction of `queries` inside at least one ball (centres[j], radii[j])."""
    inside = []
    for part in queries.split(batch_size):
        distances = torch.cdist(part, centres)  # (B, M)
        inside.append((distances <= radii[None, :]).any(1))
    return float(torch.cat(inside).float().mean())


def manifold_pair(real: ArrayLike, fake: ArrayLike, k: int, metric: str) -> tuple[Tensor, Tensor]:
    """Both feature sets as float32 tensors, checked for equal width and more than k samples."""
    real_t = as_float64(real, "real features").float()
    fake_t = as_float64(fake, "fake features").float()
    if real_t.shape[1] != fake_t.shape[1]:
        raise GankitError(
            f"{metric}: feature sizes differ ({real_t.shape[1]} vs {fake_t.shape[1]})"
        )
    if min(len(real_t), len(fake_t)) <= k:
        raise GankitError(
            f"{metric} with k={k} needs more than {k} samples per set; "
            f"got {len(real_t)} real and {len(fake_t)} fake"
        )
    return real_t, fake_t


def precision_recall(
    real: ArrayLike, fake: ArrayLike, k: int = 3, batch_size: int = 1024
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, Sec. 2, Eq. 1-2).

    Each set's manifold is the union of balls around its samples reaching their k-th nearest
    neighbour. Precision: the fraction of fakes inside the real manifold (fidelity). Recall: the
    fraction of reals inside the fake manifold (diversity). Distances in float32 with batched
    ``torch.cdist``, so 10k x 10k sets need no more than a (batch, N) matrix at a time.
    One real outlier's large ball can hold a whole collapsed fake set (a high precision for
    garbage); `density_coverage` is the remedy.
    """
    real_t, fake_t = manifold_pair(real, fake, k, "precision/recall")
    real_radii = knn_radii(real_t, k, batch_size)
    fake_radii = knn_radii(fake_t, k, batch_size)
    precision = coverage_fraction(fake_t, real_t, real_radii, batch_size)
    recall = coverage_fraction(real_t, fake_t, fake_radii, batch_size)
    return precision, recall


def density_coverage(
    real: ArrayLike, fake: ArrayLike, k: int = 5, batch_size: int = 1024
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, Eq. 3-4): outlier-robust precision and recall.

    Density counts how many real k-NN balls hold each fake, divided by k (about 1 for fakes
    distributed like the reals, unbounded above); coverage is the fraction of real balls that hold
    at least one fake. Both use only the real manifold, whose outliers then cannot swallow a
    collapsed fake set. k = 5 as the authors recommend.
    """
    real_t, fake_t = manifold_pair(real, fake, k, "density/coverage")
    radii = knn_radii(real_t, k, batch_size)
    hits, covered = 0, torch.zeros(len(real_t), dtype=torch.bool)
    for part in fake_t.split(batch_size):
        inside = torch.cdist(part, real_t) <= radii[None, :]  # (B, N real)
        hits += int(inside.sum())
        covered |= inside.any(0)
    return hits / (k * len(fake_t)), float(covered.float().mean())
