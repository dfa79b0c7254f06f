"""Datasets for training, all offline: the embedded MNIST and IDX directories.

* ``load_mnist()``: the real MNIST (60,000 train / 10,000 test, uint8 28x28 images flattened
  to 784) shipped in ``simulate/data/mnist.npz`` (converted once by tools/convert_mnist.py).
  MNIST: Y. LeCun, C. Cortes, C. J. C. Burges; licence CC BY-SA 3.0.
* ``load_idx_directory(path)``: any dataset stored as the four classic IDX files
  (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
  t10k-labels-idx1-ubyte), gzipped or not, directly in ``path`` or in the layouts torchvision
  (``path/<Name>/raw/``) and Keras (``~/.keras/datasets/<name>/``) leave on disk.
* ``load_fashion_mnist(path=None)``: Fashion-MNIST from such a directory, by default from
  Debian's ``dataset-fashion-mnist`` package (/usr/share/datasets/fashion-mnist).

Corrupt or truncated files raise ValueError naming the file. Images stay uint8; the
training loop scales them to [0, 1] currents.
"""
from __future__ import annotations

import gzip
import math
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Dataset", "load_mnist", "read_idx", "load_idx_directory", "load_fashion_mnist",
           "load_dataset", "DEBIAN_FASHION_MNIST"]

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
          "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


@dataclass(frozen=True)
class Dataset:
    """Images (n, n_pixels) uint8 and labels (n,) uint8 of a train and a test split."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or x.ndim != 2 or min(x.shape) < 1:
                raise ValueError(f"x_{split} must be a (n, n_pixels) array with n, n_pixels >= 1, got "
                                 f"{getattr(x, 'shape', type(x).__name__)}")
            if x.dtype.kind not in "uif":
                raise ValueError(f"x_{split} must hold numbers (uint8 pixels), got dtype {x.dtype}")
            if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                raise ValueError(f"x_{split} holds NaN or infinity")
            if not isinstance(y, np.ndarray) or y.shape != (len(x),) or y.dtype.kind not in "ui":
                raise ValueError(f"y_{split} must be {len(x)} non-negative integer labels (one per image), got "
                                 f"{getattr(y, 'shape', type(y).__name__)} {getattr(y, 'dtype', '')}")
            if y.min() < 0:
                raise ValueError(f"y_{split} must be non-negative class indices, got {int(y.min())}")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(f"{self.name}: training images have {self.x_train.shape[1]} pixels and test images "
                             f"{self.x_test.shape[1]}; both splits need the same image shape")

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _subset(array, size, name):
    if size is None:
        return array
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(array):
        raise ValueError(f"{name} must be None or an integer in [1, {len(array)}], got {size!r}")
    return array[:size]


def _finish(name, arrays, train_size, test_size) -> Dataset:
    return Dataset(name=name,
                   x_train=_subset(arrays["x_train"], train_size, "train_size"),
                   y_train=_subset(arrays["y_train"], train_size, "train_size"),
                   x_test=_subset(arrays["x_test"], test_size, "test_size"),
                   y_test=_subset(arrays["y_test"], test_size, "test_size"))


def load_mnist(train_size=None, test_size=None) -> Dataset:
    """The embedded MNIST; ``train_size``/``test_size`` keep the first n images of a split
    (the official order, whose class mix is close to balanced from the first few hundred)."""
    with resources.as_file(resources.files("simulate") / "data" / "mnist.npz") as path:
        with np.load(path) as data:
            arrays = {key: data[key] for key in _FILES}
    return _finish("mnist", arrays, train_size, test_size)


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzip detected from its first bytes): magic 0x0000, dtype code, ndim,
    then ndim big-endian uint32 sizes and the data. ValueError naming the file if the header
    is invalid or the data is shorter or longer than the header says."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise ValueError(f"cannot read IDX file {path}: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] < 1:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: header needs {header} bytes, file has {len(raw)}")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize      # Python ints: no int64 overflow
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{path} is {kind}: shape {shape} needs {expected} bytes, file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory, stem):
    """The file ``stem`` or ``stem.gz`` in directory, directory/raw or directory/*/raw."""
    candidates = [directory, os.path.join(directory, "raw")]
    if os.path.isdir(directory):
        candidates += [os.path.join(directory, sub, "raw") for sub in sorted(os.listdir(directory))]
    for folder in candidates:
        for name in (stem, stem + ".gz"):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def load_idx_directory(directory, name=None, train_size=None, test_size=None) -> Dataset:
    """A dataset from the four IDX files in ``directory`` (see the module docstring)."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"directory {directory!r} does not exist")
    arrays = {}
    for key, stem in _FILES.items():
        path = _find(directory, stem)
        if path is None:
            raise ValueError(f"directory {directory!r} has no {stem}[.gz] (nor in raw/ or */raw/)")
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{directory!r}: {split} images {x.shape} and labels {y.shape} do not match")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(f"{directory!r}: training images have shape {arrays['x_train'].shape[1:]} and test images "
                         f"{arrays['x_test'].shape[1:]}; both splits need the same image shape")
    for split in ("train", "test"):
        arrays[f"x_{split}"] = arrays[f"x_{split}"].reshape(len(arrays[f"x_{split}"]), -1)
    return _finish(name or os.path.basename(os.path.normpath(directory)), arrays, train_size, test_size)


def load_fashion_mnist(directory=None, train_size=None, test_size=None) -> Dataset:
    """Fashion-MNIST from ``directory`` or, by default, Debian's dataset-fashion-mnist path."""
    directory = DEBIAN_FASHION_MNIST if directory is None else directory
    if not os.path.isdir(directory):
        raise ValueError(f"Fashion-MNIST not found at {directory!r}: install Debian's "
                         "dataset-fashion-mnist or pass the directory holding its IDX files")
    return load_idx_directory(directory, "fashion_mnist", train_size, test_size)


def load_dataset(name="mnist", directory=None, train_size=None, test_size=None) -> Dataset:
    """``mnist`` (embedded, or from ``directory``), ``fashion_mnist`` or ``idx`` (directory)."""
    if name == "mnist":
        if directory is None:
            return load_mnist(train_size, test_size)
        return load_idx_directory(directory, "mnist", train_size, test_size)
    if name == "fashion_mnist":
        return load_fashion_mnist(directory, train_size, test_size)
    if name == "idx":
        if directory is None:
            raise ValueError("directory is required for dataset 'idx'")
        return load_idx_directory(directory, None, train_size, test_size)
    raise ValueError(f"name must be one of ['fashion_mnist', 'idx', 'mnist'], got {name!r}")
