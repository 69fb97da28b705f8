"""Bundled and downloadable datasets: ``load_digits()`` and ``load_mnist(path)``.

Both return a :class:`DataSplit`: ``X_train, y_train, X_test, y_test``
tensors (features ``float32`` scaled to [0, 1], labels ``int64``), which
also unpacks as a 4-tuple.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradkit._args import path_arg, real, whole
from gradkit.backends import get_backend
from gradkit.dtypes import to_dtype
from gradkit.errors import DTypeError, GradkitError, InvalidArgumentError
from gradkit.io.optional import require
from gradkit.tensor import Tensor


class DatasetError(GradkitError, ValueError):
    """A data file that is wrong: bad magic number, wrong size, corrupt."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A data file or folder that does not exist."""


@dataclass(frozen=True)
class DataSplit:
    """A train/test split: ``X_train (n, features), y_train (n,), X_test, y_test``.

    ``X_train, y_train, X_test, y_test = split`` unpacks it; ``split.train``
    and ``split.test`` are :class:`TensorDataset` views for a DataLoader.
    """

    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    num_classes: int
    name: str

    def __iter__(self) -> Any:
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    @property
    def num_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))

    @property
    def train(self) -> Any:
        from gradkit.data.loader import TensorDataset

        return TensorDataset(self.X_train, self.y_train)

    @property
    def test(self) -> Any:
        from gradkit.data.loader import TensorDataset

        return TensorDataset(self.X_test, self.y_test)

    def __repr__(self) -> str:
        return (
            f"DataSplit({self.name}: train X{tuple(self.X_train.shape)} y{tuple(self.y_train.shape)}, "
            f"test X{tuple(self.X_test.shape)} y{tuple(self.y_test.shape)}, {self.num_classes} classes, "
            f"device={self.X_train.device})"
        )


def _split(name: str, arrays: tuple[np.ndarray, ...], num_classes: int, device: Any, dtype: Any) -> DataSplit:
    backend = get_backend(device, f"load_{name}")
    dt = to_dtype(dtype, f"load_{name}")
    if dt.kind != "f":  # the features are scaled to [0, 1]: an integer dtype would truncate them
        raise DTypeError(f"load_{name}: dtype must be a float dtype, got {dt}")
    x_tr, y_tr, x_te, y_te = arrays
    make = lambda a, d: Tensor._make(backend.asarray(a, dtype=d), backend)
    return DataSplit(make(x_tr, dt), make(y_tr, np.int64), make(x_te, dt), make(y_te, np.int64), num_classes, name)


# ------------------------------------------------------------------- digits
def load_digits(test_fraction: float = 0.2, seed: int = 0, device: Any = None, dtype: Any = "float32") -> DataSplit:
    """The 8x8 handwritten digits that scikit-learn ships (1797 samples, 64 features, 10 classes).

    Pixels (0..16) are scaled to [0, 1]. The split is stratified and
    deterministic: for each class, a ``test_fraction`` of its samples, chosen
    by a generator seeded with ``seed``, is the test set (359 of 1797 samples
    with the defaults). Needs scikit-learn (``pip install scikit-learn``).
    """
    test_fraction = real(test_fraction, "load_digits", "test_fraction")
    if not 0.0 < test_fraction < 1.0:
        raise InvalidArgumentError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    seed = whole(seed, "load_digits", "seed", low=0)
    datasets = require("sklearn.datasets", "gk.data.load_digits()", "scikit-learn")
    x, y = datasets.load_digits(return_X_y=True)
    x = x.astype(np.float64) / 16.0
    y = y.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        count = int(round(test_fraction * len(members)))
        test[rng.permutation(members)[:count]] = True
    return _split("digits", (x[~test], y[~test], x[test], y[test]), 10, device, dtype)


# -------------------------------------------------------------------- MNIST
MNIST_FILES = {
    "train images": "train-images-idx3-ubyte",
    "train labels": "train-labels-idx1-ubyte",
    "test images": "t10k-images-idx3-ubyte",
    "test labels": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
MNIST_COUNTS = {"train": 60000, "test": 10000}
MNIST_SIDE = 28


def _find(folder: str, stem: str, what: str) -> str:
    """The file for ``stem`` in ``folder``: plain or ``.gz``, with ``-idx`` or ``.idx`` in the name."""
    names = []
    for base in (stem, stem.replace("-idx", ".idx")):
        names += [base, base + ".gz"]
    for name in names:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise DatasetNotFoundError(
        f"load_mnist: the MNIST {what} file is missing from {folder!r}; looked for {', '.join(names)}"
    )


def _read_idx(path: str, magic: int, what: str) -> np.ndarray:
    """An IDX file's array (unsigned bytes), after checking its magic number and size."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"load_mnist: cannot read the {what} file {path!r}: {exc}") from None
    if len(data) < 4:
        raise DatasetError(f"load_mnist: the {what} file {path!r} is truncated ({len(data)} bytes, no IDX header)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        other = {IMAGES_MAGIC: " (that is an images file)", LABELS_MAGIC: " (that is a labels file)"}.get(found, "")
        raise DatasetError(
            f"load_mnist: the {what} file {path!r} has magic number 0x{found:08x}{other}; "
            f"expected 0x{magic:08x} for an IDX {what} file"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"load_mnist: the {what} file {path!r} is truncated inside its header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    found_bytes = len(data) - header
    if found_bytes != expected:
        problem = "truncated" if found_bytes < expected else "too long"
        raise DatasetError(
            f"load_mnist: the {what} file {path!r} is {problem}: it holds {found_bytes} bytes of data, "
            f"but its header says shape {dims} ({expected} bytes)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(
    path: str | os.PathLike,
    device: Any = None,
    dtype: Any = "float32",
    flatten: bool = True,
    check_sizes: bool = True,
) -> DataSplit:
    """MNIST (or Fashion-MNIST) from the four standard IDX files in the folder ``path``.

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or
    gzipped (``.gz``), as downloaded by the user. Magic numbers, sizes, the
    image/label counts and the label range are checked, and an error names the
    file that is wrong or missing. With ``check_sizes`` (the default) the
    known sizes are checked too: 60000 training and 10000 test images of
    28x28 pixels. Pixels are scaled to [0, 1]; with ``flatten`` images are
    rows of 784 features, else (n, 28, 28).
    """
    folder = path_arg(path, "load_mnist")
    if not os.path.isdir(folder):
        raise DatasetNotFoundError(f"load_mnist: {folder!r} is not a folder; pass the folder that holds the IDX files")
    arrays = []
    for part in ("train", "test"):
        images_path = _find(folder, MNIST_FILES[f"{part} images"], f"{part} images")
        labels_path = _find(folder, MNIST_FILES[f"{part} labels"], f"{part} labels")
        images = _read_idx(images_path, IMAGES_MAGIC, f"{part} images")
        labels = _read_idx(labels_path, LABELS_MAGIC, f"{part} labels")
        if images.ndim != 3:
            raise DatasetError(f"load_mnist: {images_path!r} has shape {images.shape}; expected (n, rows, cols)")
        if labels.ndim != 1:
            raise DatasetError(f"load_mnist: {labels_path!r} has shape {labels.shape}; expected (n,)")
        if len(images) != len(labels):
            raise DatasetError(
                f"load_mnist: {images_path!r} has {len(images)} images but {labels_path!r} has {len(labels)} labels"
            )
        if check_sizes:
            want = (MNIST_COUNTS[part], MNIST_SIDE, MNIST_SIDE)
            if images.shape != want:
                raise DatasetError(
                    f"load_mnist: {images_path!r} has shape {images.shape}; MNIST's {part} set is {want} "
                    "(pass check_sizes=False for other sizes)"
                )
        if labels.size and labels.max() > 9:
            raise DatasetError(f"load_mnist: {labels_path!r} has label {int(labels.max())}; labels must be 0..9")
        x = images.astype(np.float32) / 255.0
        arrays += [x.reshape(len(x), -1) if flatten else x, labels.astype(np.int64)]
    return _split("mnist", tuple(arrays), 10, device, dtype)
