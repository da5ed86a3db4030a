"""open_dataset: a built-in dataset by name, or a folder / .zip of images by path.

It sits above both datasets.py (the folder/zip dataset) and builtin.py (datasets that ship with
the package, built on datasets.py's classes), so neither imports the other back.
"""

from __future__ import annotations

import os
from pathlib import Path

from stylegen.data.builtin import BUILTIN_DATASETS, open_builtin
from stylegen.data.datasets import ImageDataset, ImageFolderDataset
from stylegen.errors import UserError

__all__ = ["open_dataset"]


def open_dataset(
    spec: str | os.PathLike,
    *,
    use_labels: bool = False,
    labels: str = "json",
    max_size: int | None = None,
    xflip: bool = False,
    skip_bad: bool = False,
    random_seed: int = 0,
) -> ImageDataset:
    """Open a built-in dataset by name ('fashion-mnist', 'emoji', or one class of it such as
    'fashion-mnist:sneaker') or a folder / .zip of images.

    `labels` and `skip_bad` only matter for folders and zips; built-ins carry their own labels.
    An existing path wins over a built-in name, so a folder called 'emoji' can still be opened.
    """
    common = dict(use_labels=use_labels, max_size=max_size, xflip=xflip, random_seed=random_seed)
    path = Path(spec)
    if not path.exists():
        if str(spec).partition(":")[0] in BUILTIN_DATASETS:  # 'fashion-mnist:sneaker' too
            return open_builtin(str(spec), **common)
        raise UserError(
            f"dataset '{spec}' is neither an existing folder or .zip nor a built-in dataset "
            f"({', '.join(BUILTIN_DATASETS)})"
        )
    return ImageFolderDataset(path, labels=labels, skip_bad=skip_bad, **common)
