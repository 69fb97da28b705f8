"""gk.data.load_digits and gk.data.load_mnist (on small IDX files written here)."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import DataLoader, DatasetError, DatasetNotFoundError, DataSplit, load_digits, load_mnist
from gradkit.io import MissingDependencyError

SKLEARN_MISSING = "scikit-learn is not installed (an optional extra: python -m pip install -e '.[dev]')"

try:
    import sklearn  # noqa: F401

    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False

needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason=SKLEARN_MISSING)


# ------------------------------------------------------------------ digits
@needs_sklearn
def test_digits_refuse_an_integer_dtype():
    with pytest.raises(gk.DTypeError, match="float dtype"):
        load_digits(dtype="int8")  # the [0, 1] features would be truncated


@needs_sklearn
def test_digits_shapes_types_and_range():
    split = load_digits()
    assert isinstance(split, DataSplit)
    X_train, y_train, X_test, y_test = split  # unpacks as a 4-tuple
    assert X_train.shape[1] == X_test.shape[1] == split.num_features == 64
    assert len(X_train) + len(X_test) == 1797
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert 350 <= len(X_test) <= 370  # a fifth
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= float(X_train.min().item()) and float(X_train.max().item()) == 1.0
    assert split.num_classes == 10 and set(y_test.tolist()) == set(range(10))  # stratified: every class tested
    assert "digits" in repr(split)


@needs_sklearn
def test_digits_split_is_deterministic_and_seeded():
    a, b, c = load_digits(), load_digits(), load_digits(seed=1)
    np.testing.assert_array_equal(a.X_test.numpy(), b.X_test.numpy())
    np.testing.assert_array_equal(a.y_train.numpy(), b.y_train.numpy())
    assert not np.array_equal(a.X_test.numpy(), c.X_test.numpy())


@needs_sklearn
def test_digits_train_and_test_are_disjoint():
    from sklearn.datasets import load_digits as sk_digits

    x, _ = sk_digits(return_X_y=True)
    split = load_digits(test_fraction=0.25)
    # Every original row appears exactly once across the two sets.
    rows = np.concatenate([split.X_train.numpy(), split.X_test.numpy()]) * 16
    assert sorted(map(bytes, np.round(rows).astype(np.uint8))) == sorted(map(bytes, x.astype(np.uint8)))


@needs_sklearn
def test_digits_device_and_datasets(device):
    split = load_digits(device=device)
    assert split.X_train.device == gk.zeros(1, device=device).device
    xb, yb = next(iter(DataLoader(split.train, batch_size=32)))
    assert xb.shape == (32, 64) and yb.shape == (32,)
    assert len(split.test) == len(split.y_test)


def test_digits_without_sklearn_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(MissingDependencyError, match=r"load_digits.*scikit-learn.*pip install"):
        load_digits()


def test_digits_bad_fraction():
    with pytest.raises(gk.InvalidArgumentError, match="test_fraction"):
        load_digits(test_fraction=1.5)


# ------------------------------------------------------------------- MNIST
NAMES = {
    "train images": "train-images-idx3-ubyte",
    "train labels": "train-labels-idx1-ubyte",
    "test images": "t10k-images-idx3-ubyte",
    "test labels": "t10k-labels-idx1-ubyte",
}


def _idx(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(folder, n_train=12, n_test=5, side=28, gz=False, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    arrays = {
        "train images": rng.integers(0, 256, (n_train, side, side)),
        "train labels": rng.integers(0, 10, n_train),
        "test images": rng.integers(0, 256, (n_test, side, side)),
        "test labels": rng.integers(0, 10, n_test),
    }
    for key, array in arrays.items():
        data = _idx(array)
        name = NAMES[key]
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_plain_and_gzip(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    split = load_mnist(tmp_path, check_sizes=False)
    X_train, y_train, X_test, y_test = split
    assert X_train.shape == (12, 784) and X_test.shape == (5, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_allclose(X_train.numpy(), arrays["train images"].reshape(12, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_test.numpy(), arrays["test labels"])
    assert split.name == "mnist" and split.num_classes == 10


def test_mnist_unflattened_on_device(tmp_path, device):
    _write_mnist(tmp_path)
    split = load_mnist(tmp_path, check_sizes=False, flatten=False, device=device)
    assert split.X_test.shape == (5, 28, 28)
    assert split.X_test.device == gk.zeros(1, device=device).device


def test_mnist_mixed_gzip_and_dotted_names(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").rename(tmp_path / "train-images.idx3-ubyte")
    data = (tmp_path / "t10k-labels-idx1-ubyte").read_bytes()
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(data))
    assert load_mnist(tmp_path, check_sizes=False).X_train.shape == (12, 784)


def test_mnist_known_sizes_are_checked(tmp_path):
    _write_mnist(tmp_path)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*\(60000, 28, 28\)"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("key", list(NAMES))
def test_mnist_missing_file_is_named(tmp_path, key):
    _write_mnist(tmp_path)
    (tmp_path / NAMES[key]).unlink()
    with pytest.raises(DatasetNotFoundError, match=f"{key} file is missing.*{NAMES[key]}"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError
        load_mnist(tmp_path / "nowhere")


def test_mnist_swapped_files_wrong_magic(tmp_path):
    _write_mnist(tmp_path)
    images, labels = tmp_path / NAMES["train images"], tmp_path / NAMES["train labels"]
    a, b = images.read_bytes(), labels.read_bytes()
    images.write_bytes(b)
    labels.write_bytes(a)
    with pytest.raises(DatasetError, match=r"train images file .*train-images-idx3-ubyte.*0x00000801.*labels file"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_garbage_magic(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / NAMES["test labels"]).write_bytes(b"\x12\x34\x56\x78" + bytes(10))
    with pytest.raises(DatasetError, match=r"test labels file .*t10k-labels-idx1-ubyte.*0x12345678"):
        load_mnist(tmp_path, check_sizes=False)


@pytest.mark.parametrize("cut", [-1, 3, 10])
def test_mnist_truncated_file(tmp_path, cut):
    _write_mnist(tmp_path)
    path = tmp_path / NAMES["test images"]
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_too_long_file(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / NAMES["train labels"]
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte.*too long"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_corrupt_gzip(tmp_path):
    _write_mnist(tmp_path, gz=True)
    path = tmp_path / (NAMES["train images"] + ".gz")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DatasetError, match=r"train images file .*train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_count_mismatch(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / NAMES["train labels"]).write_bytes(_idx(np.zeros(11)))
    with pytest.raises(DatasetError, match="12 images but .*11 labels"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_label_out_of_range(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / NAMES["test labels"]).write_bytes(_idx(np.array([0, 1, 2, 3, 12])))
    with pytest.raises(DatasetError, match="label 12"):
        load_mnist(tmp_path, check_sizes=False)


def test_mnist_wrong_rank(tmp_path):
    _write_mnist(tmp_path)
    data = _idx(np.zeros((12, 784)))
    (tmp_path / NAMES["train images"]).write_bytes(b"\x00\x00\x08\x03" + data[4:])  # claims 3 dims, has 2
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, check_sizes=False)
