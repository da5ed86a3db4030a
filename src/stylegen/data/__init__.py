"""Datasets: folders and zips of images, built-in datasets, and the dataset preparation tool.

See datasets.py (the StyleGAN2-ADA dataset interface), builtin.py (Fashion-MNIST, Noto emoji),
open.py (`open_dataset`: a built-in name or a path) and prepare.py (crop/resize/pack into the
official zip layout with dataset.json).
"""

from stylegen.data.builtin import BUILTIN_DATASETS, open_builtin
from stylegen.data.datasets import (
    ImageDataset,
    ImageFolderDataset,
    InMemoryDataset,
    UnpairedDataset,
)
from stylegen.data.open import open_dataset
from stylegen.data.prepare import TRANSFORMS, convert_dataset

__all__ = [
    "BUILTIN_DATASETS",
    "TRANSFORMS",
    "ImageDataset",
    "ImageFolderDataset",
    "InMemoryDataset",
    "UnpairedDataset",
    "convert_dataset",
    "open_builtin",
    "open_dataset",
]
