"""Metrics: distribution distances (FID, KID, IS, precision/recall), image quality (PSNR, SSIM),
the feature networks they use, and `evaluate`, the function behind ``gankit eval``."""

from gankit.metrics.distribution import (
    density_coverage,
    feature_statistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
)
from gankit.metrics.evaluate import METRICS, embed, evaluate, features_of, format_table
from gankit.metrics.features import (
    FEATURE_NETWORKS,
    FashionClassifier,
    load_classifier,
    load_feature_network,
)
from gankit.metrics.image import psnr, rgb_to_y, ssim
from gankit.metrics.inception import InceptionV3, load_inception

__all__ = [
    "FEATURE_NETWORKS",
    "METRICS",
    "FashionClassifier",
    "InceptionV3",
    "density_coverage",
    "embed",
    "evaluate",
    "feature_statistics",
    "features_of",
    "format_table",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "load_classifier",
    "load_feature_network",
    "load_inception",
    "precision_recall",
    "psnr",
    "rgb_to_y",
    "ssim",
    "train_classifier",
]


def __getattr__(name: str) -> object:
    # Imported on first use, so that `python -m gankit.metrics.classifier` runs the module once.
    if name == "train_classifier":
        from gankit.metrics.classifier import train_classifier

        return train_classifier
    raise AttributeError(f"module 'gankit.metrics' has no attribute {name!r}")
