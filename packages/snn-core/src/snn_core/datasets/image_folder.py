"""Image folders: ``root/train/<class>/*.png`` and ``root/test/<class>/*.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_core._checks import flag, positive_integer
from snn_core.datasets.base import DatasetInfo, DatasetSplits, ImageDataset, split_indices
from snn_core.registry import DATASETS

__all__ = ["load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _read_classes(
    folder: Path, classes: list[str], image_size: int, grey: bool
) -> tuple[np.ndarray, np.ndarray]:
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "image folders need Pillow; install it with `pip install 'snn-core[images]'`"
        ) from error
    images, labels = [], []
    for label, name in enumerate(classes):
        class_folder = folder / name
        if not class_folder.is_dir():
            continue
        for path in sorted(class_folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(path) as image:
                    converted = image.convert("L" if grey else "RGB").resize(
                        (image_size, image_size), Image.Resampling.BILINEAR
                    )
                    array = np.asarray(converted, dtype=np.uint8)
            except OSError as error:  # PIL.UnidentifiedImageError is an OSError too
                raise ValueError(
                    f"image {path} is unreadable ({error}); remove or replace it"
                ) from error
            images.append(array[None] if grey else array.transpose(2, 0, 1))
            labels.append(label)
    if not images:
        raise FileNotFoundError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {folder}/<class name>/"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64)


@DATASETS.register("image-folder")
def load_image_folder(
    data_dir: str | Path | None = None,
    *,
    image_size: int = 32,
    grey: bool = False,
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> DatasetSplits:
    """Load images sorted into one folder per class.

    With ``train/`` and ``test/`` subfolders those are the splits. Otherwise the class folders sit in
    ``data_dir`` directly, and a stratified split holds out ``holdout_fraction`` of each class.
    Every image is resized to ``image_size`` x ``image_size``.

    Args:
        data_dir: The root folder.
        image_size: Side length after resizing, in pixels.
        grey: Convert to one grey channel instead of RGB.
        holdout_fraction: Share of each class held out when there is no ``test/`` folder.
        seed: Seed of that split.

    Raises:
        ValueError: If ``data_dir`` is None or ``image_size`` is not a positive integer.
        TypeError: If ``grey`` is not a bool.
        FileNotFoundError: If the folder or its class folders hold no images.
    """
    if data_dir is None:
        raise ValueError("the image-folder dataset needs data_dir (CLI: --data-dir DIR)")
    positive_integer("image_size", image_size)
    grey = flag("grey", grey)
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} not found")
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    if (root / "train").is_dir() != (root / "test").is_dir():
        raise FileNotFoundError(
            f"{root} has only one of train/ and test/; add the other, or put the class folders "
            "directly in the root to split them with holdout_fraction"
        )
    class_root = root / "train" if has_splits else root
    classes = sorted(path.name for path in class_root.iterdir() if path.is_dir())
    if not classes:
        raise FileNotFoundError(f"{class_root} has no class subfolders")

    if has_splits:
        unknown = sorted(
            {path.name for path in (root / "test").iterdir() if path.is_dir()} - set(classes)
        )
        if unknown:
            raise ValueError(f"{root / 'test'} has classes {unknown} that {root / 'train'} lacks")
        train = ImageDataset(*_read_classes(root / "train", classes, image_size, grey))
        test = ImageDataset(*_read_classes(root / "test", classes, image_size, grey))
        note = "train/ and test/ folders"
    else:
        images, labels = _read_classes(root, classes, image_size, grey)
        train_index, test_index = split_indices(labels, holdout_fraction, seed)
        train = ImageDataset(images[train_index], labels[train_index])
        test = ImageDataset(images[test_index], labels[test_index])
        note = (
            f"stratified split of one folder: {len(train_index)} train, {len(test_index)} test "
            f"(holdout_fraction {holdout_fraction}, seed {seed})"
        )
    info = DatasetInfo(
        "image-folder",
        len(classes),
        1 if grey else 3,
        image_size,
        source=str(root),
        split_note=note,
    )
    return DatasetSplits(train=train, test=test, info=info)
