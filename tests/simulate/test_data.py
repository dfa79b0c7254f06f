"""Datasets: the embedded MNIST is the official one; IDX directories load in every layout;
broken files give errors that name them."""
import gzip
import os
import struct

import numpy as np
import pytest

from simulate.data import load_dataset, load_fashion_mnist, load_idx_directory, load_mnist, read_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_embedded_mnist_is_the_official_set():
    data = load_mnist()
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.uint8
    assert np.bincount(data.y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(data.y_test, minlength=10).tolist() == TEST_COUNTS
    # first labels of the official files; full 0..255 range used (conversion not off by one)
    assert data.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert data.x_train.max() == 255 and data.x_train.min() == 0
    assert len(np.unique(data.x_train[:2000])) == 256


def test_subsets_keep_the_first_images():
    data = load_mnist(train_size=100, test_size=10)
    assert data.x_train.shape == (100, 784) and data.y_test.shape == (10,)
    assert data.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    with pytest.raises(ValueError, match="train_size"):
        load_mnist(train_size=0)
    with pytest.raises(ValueError, match="test_size"):
        load_mnist(test_size=10001)


def _idx_bytes(array):
    array = np.asarray(array, np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_set(folder, rng, gz, n_train=12, n_test=5, side=4):
    os.makedirs(folder, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    for stem, array in arrays.items():
        raw = _idx_bytes(array)
        if gz:
            with gzip.open(os.path.join(folder, stem + ".gz"), "wb") as handle:
                handle.write(raw)
        else:
            with open(os.path.join(folder, stem), "wb") as handle:
                handle.write(raw)
    return arrays


@pytest.mark.parametrize("layout", ["flat", "flat_gz", "torchvision", "keras"])
def test_idx_directory_layouts(tmp_path, layout):
    rng = np.random.default_rng(0)
    if layout == "torchvision":    # root/FashionMNIST/raw/*-ubyte (+ .gz)
        arrays = _write_set(tmp_path / "FashionMNIST" / "raw", rng, gz=False)
        root = tmp_path
    elif layout == "keras":        # ~/.keras/datasets/fashion-mnist/*.gz
        root = tmp_path / "datasets" / "fashion-mnist"
        arrays = _write_set(root, rng, gz=True)
    else:
        root = tmp_path
        arrays = _write_set(root, rng, gz=layout == "flat_gz")
    data = load_idx_directory(root)
    np.testing.assert_array_equal(data.x_train, arrays["train-images-idx3-ubyte"].reshape(12, 16))
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert data.x_train.dtype == np.uint8
    fashion = load_fashion_mnist(root, train_size=3)
    assert fashion.name == "fashion_mnist" and fashion.x_train.shape == (3, 16)
    assert load_dataset("idx", root).x_test.shape == (5, 16)


def test_truncated_and_corrupt_files_name_the_file(tmp_path):
    rng = np.random.default_rng(1)
    _write_set(tmp_path, rng, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[:-7])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is truncated"):
        load_idx_directory(tmp_path)
    images.write_bytes(raw + b"\x00")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is longer"):
        read_idx(images)
    images.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is not an IDX file"):
        read_idx(images)
    broken_gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    broken_gz.write_bytes(gzip.compress(raw)[:30])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        read_idx(broken_gz)


def test_missing_files_and_directories(tmp_path):
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_idx_directory(tmp_path)
    with pytest.raises(ValueError, match="Fashion-MNIST not found"):
        load_fashion_mnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("cifar")
