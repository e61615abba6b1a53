from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_core.datasets import load_dataset, read_cifar_binary, read_idx

MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_idx_reader_on_real_mnist(shared_data: Path) -> None:
    images = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    assert float(images.mean()) == pytest.approx(33.79, abs=0.01)
    assert np.bincount(labels).tolist() == MNIST_TEST_CLASS_COUNTS


def test_idx_reader_raw_equals_gzip(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(source.read_bytes()))
    assert np.array_equal(read_idx(raw), read_idx(source))


def test_idx_reader_rejects_truncated_file(shared_data: Path, tmp_path: Path) -> None:
    data = gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    truncated = tmp_path / "t10k-labels-idx1-ubyte"
    truncated.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(truncated)


def test_idx_reader_rejects_wrong_magic(tmp_path: Path) -> None:
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)


def test_mnist_holdout_split(shared_data: Path) -> None:
    splits = load_dataset("mnist", shared_data / "mnist", holdout_fraction=0.2, seed=0)
    assert len(splits.train) + len(splits.test) == 10000
    assert len(splits.test) == sum(round(count * 0.2) for count in MNIST_TEST_CLASS_COUNTS)
    image, label = splits.train[0]
    assert image.shape == (1, 28, 28)
    assert image.dtype == torch.float32
    assert 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
    assert label.dtype == torch.int64
    again = load_dataset("mnist", shared_data / "mnist", holdout_fraction=0.2, seed=0)
    assert torch.equal(again.test.labels, splits.test.labels)


def test_mnist_without_train_files_explains_holdout(shared_data: Path, tmp_path: Path) -> None:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "mnist" / name, tmp_path / name)
    with pytest.raises(FileNotFoundError, match="holdout"):
        load_dataset("mnist", tmp_path)


def test_mnist_needs_data_dir() -> None:
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("mnist")


def test_digits_default() -> None:
    splits = load_dataset("digits")
    assert splits.info.num_classes == 10
    assert splits.info.image_size == 8
    assert len(splits.train) + len(splits.test) == 1797
    images, _ = splits.train.tensors()
    assert float(images.max()) == 1.0


def test_cifar_binary_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
    labels = np.array([[3], [7], [1]], dtype=np.uint8)
    path = tmp_path / "test_batch.bin"
    np.concatenate([labels, pixels], axis=1).tofile(path)
    images, read_labels = read_cifar_binary(path, label_bytes=1)
    assert read_labels.tolist() == [3, 7, 1]
    assert np.array_equal(images[1, 2].reshape(-1), pixels[1, 2048:])


def test_cifar_binary_rejects_partial_record(tmp_path: Path) -> None:
    path = tmp_path / "test_batch.bin"
    np.zeros(3073 + 5, dtype=np.uint8).tofile(path)
    with pytest.raises(ValueError, match="whole number"):
        read_cifar_binary(path, label_bytes=1)


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for label, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / label).mkdir()
        for index in range(5):
            Image.fromarray(np.full((10, 12), value, dtype=np.uint8)).save(
                tmp_path / label / f"{index}.png"
            )
    splits = load_dataset("image-folder", tmp_path, image_size=8, grey=True, holdout_fraction=0.4)
    assert splits.info.num_classes == 2
    assert len(splits.test) == 4
    image, label = splits.test[0]
    assert image.shape == (1, 8, 8)
    assert float(image.mean()) == pytest.approx((40 if int(label) == 0 else 200) / 255, abs=1e-6)
