"""Rebuild the Fashion-MNIST subset shipped in src/stylegen/data/builtin_data/.

Fashion-MNIST: Xiao, Rasul & Vollgraf (2017), Zalando SE, MIT licence. The subset is the first
1,000 images of each class of the training set, kept in file order, written as gzip IDX files
(the dataset's own format) with a fixed gzip timestamp so that rebuilding gives identical bytes.

Needs the Debian package (as root): apt-get update && apt-get install -y dataset-fashion-mnist

Usage: python scripts/make_builtin_fashion_mnist.py [--source DIR] [--dest DIR] [--per-class N]
"""

from __future__ import annotations

import argparse
import gzip
import logging
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_DEST = REPO / "src" / "stylegen" / "data" / "builtin_data"
IMAGES_NAME = "fashion-mnist-subset-images-idx3-ubyte.gz"
LABELS_NAME = "fashion-mnist-subset-labels-idx1-ubyte.gz"

logger = logging.getLogger("make_builtin_fashion_mnist")


def read_idx_gz(path: Path) -> np.ndarray:
    """An unsigned-byte IDX array from a .gz file."""
    data = gzip.decompress(path.read_bytes())
    if data[:3] != b"\x00\x00\x08":
        raise SystemExit(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def idx_gz_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as gzip IDX with mtime 0 (reproducible bytes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return gzip.compress(header + np.ascontiguousarray(array, np.uint8).tobytes(), 9, mtime=0)


def select_subset(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` images of every class, in file order."""
    picks = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def build(source: Path, dest: Path, per_class: int = 1000) -> tuple[Path, Path]:
    images = read_idx_gz(source / "train-images-idx3-ubyte.gz")
    labels = read_idx_gz(source / "train-labels-idx1-ubyte.gz")
    keep = select_subset(labels, per_class)
    dest.mkdir(parents=True, exist_ok=True)
    out_images, out_labels = dest / IMAGES_NAME, dest / LABELS_NAME
    out_images.write_bytes(idx_gz_bytes(images[keep]))
    out_labels.write_bytes(idx_gz_bytes(labels[keep]))
    logger.info(
        "wrote %d images to %s (%d bytes)", keep.size, out_images, out_images.stat().st_size
    )
    return out_images, out_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--per-class", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.source, args.dest, args.per_class)


if __name__ == "__main__":
    main()
