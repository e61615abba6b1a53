"""Read and write spike streams: the spike camera's raw `.dat` format, `.npy` and `.npz` arrays.

A spike stream is an array ``[T, H, W]`` of 0/1 values (``uint8``), one frame per time step, rows
top-down. The `.dat` format of the spike camera has no header: frame after frame, each frame is
``H * W / 8`` bytes, pixel ``k = r * W + c`` of the bottom-up row order sits in byte ``k // 8`` at bit
``k % 8`` (least significant bit first). Height and width are not stored, so the caller passes them.

Reads take a window ``(start, length)`` and memory-map the file, so a long recording is never loaded
whole: only the bytes of the requested frames are read.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)

SpikeFormat = Literal["dat", "npy", "npz"]

__all__ = [
    "SpikeFileError",
    "SpikeFileInfo",
    "SpikeFormat",
    "read_spike_info",
    "read_spikes",
    "write_spikes",
]

# Frame sizes of the spike cameras whose recordings are public, listed in errors as a hint.
_KNOWN_SIZES = ((250, 400), (400, 600), (1000, 1000))
_DEFAULT_NPZ_KEY = "spikes"


class SpikeFileError(ValueError):
    """Raised when a spike file cannot be read or written as requested. The message names the file."""


@dataclass(frozen=True)
class SpikeFileInfo:
    """Layout of a spike file: its format, frame count and frame size in pixels."""

    path: str
    format: SpikeFormat
    num_frames: int
    height: int
    width: int

    @property
    def bytes_per_frame(self) -> int:
        """Number of bytes one frame takes in a `.dat` file (``H * W / 8``)."""
        return self.height * self.width // 8


def _detect_format(path: Path) -> SpikeFormat:
    suffix = path.suffix.lower()
    if suffix == ".dat":
        return "dat"
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    raise SpikeFileError(
        f"{path}: unknown spike file extension {suffix!r}; use .dat (raw spike camera), .npy or .npz"
    )


def _check_frame_size(path: Path, height: int | None, width: int | None) -> tuple[int, int]:
    if height is None or width is None:
        sizes = ", ".join(f"{h}x{w}" for h, w in _KNOWN_SIZES)
        raise SpikeFileError(
            f"{path}: a .dat spike file stores no frame size; pass height and width "
            f"(common sizes H x W: {sizes})"
        )
    if isinstance(height, bool) or isinstance(width, bool):
        raise SpikeFileError(
            f"{path}: height and width must be integers, got {height!r}, {width!r}"
        )
    height, width = int(height), int(width)
    if height <= 0 or width <= 0:
        raise SpikeFileError(
            f"{path}: height and width must be positive, got height={height}, width={width}"
        )
    if (height * width) % 8 != 0:
        raise SpikeFileError(
            f"{path}: height*width = {height}*{width} = {height * width} is not a multiple of 8, "
            f"so frames do not fill whole bytes; check height and width"
        )
    return height, width


def _dat_info(path: Path, height: int | None, width: int | None) -> SpikeFileInfo:
    height, width = _check_frame_size(path, height, width)
    frame_bytes = height * width // 8
    size = path.stat().st_size
    if size % frame_bytes != 0:
        hints = [
            f"{h}x{w}"
            for h, w in _KNOWN_SIZES
            if size % (h * w // 8) == 0 and (h, w) != (height, width)
        ]
        hint = f" ({', '.join(hints)} would fit)" if hints else ""
        raise SpikeFileError(
            f"{path}: file size {size} bytes is not a whole number of {height}x{width} frames "
            f"({frame_bytes} bytes each, remainder {size % frame_bytes}); check height and width{hint}, "
            f"or the file is truncated"
        )
    return SpikeFileInfo(str(path), "dat", size // frame_bytes, height, width)


def _npz_member(path: Path, key: str | None) -> str:
    with zipfile.ZipFile(path) as archive:
        names = [name[:-4] for name in archive.namelist() if name.endswith(".npy")]
    if key is None:
        if _DEFAULT_NPZ_KEY in names:
            return _DEFAULT_NPZ_KEY
        if len(names) == 1:
            return names[0]
        raise SpikeFileError(
            f"{path}: the archive contains arrays {names} and none is named {_DEFAULT_NPZ_KEY!r}; "
            f"pass key= (--key on the command line) to choose one"
        )
    if key not in names:
        raise SpikeFileError(f"{path}: no array named {key!r} in the archive; it contains {names}")
    return key


def _open_npz_array(path: Path, key: str) -> np.ndarray:
    """Memory-map an uncompressed `.npz` member in place, or load a compressed one whole."""
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo(key + ".npy")
        if member.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as handle:
                # The local file header is 30 bytes plus the name and extra fields, then the data.
                handle.seek(member.header_offset)
                header = handle.read(30)
                if header[:4] != b"PK\x03\x04":
                    raise SpikeFileError(f"{path}: corrupt zip header for member {key!r}")
                name_len = int.from_bytes(header[26:28], "little")
                extra_len = int.from_bytes(header[28:30], "little")
                data_start = member.header_offset + 30 + name_len + extra_len
                handle.seek(data_start)
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
                offset = handle.tell()
            if dtype.hasobject:
                raise SpikeFileError(
                    f"{path}: member {key!r} contains Python objects; store a numeric array"
                )
            if int(np.prod(shape)) == 0:
                return np.zeros(shape, dtype=dtype)
            return np.memmap(
                path,
                dtype=dtype,
                mode="r",
                offset=offset,
                shape=shape,
                order="F" if fortran else "C",
            )
        logger.info("%s: member %r is compressed, so it is loaded whole", path, key)
        with archive.open(member) as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)


def _open_array(path: Path, fmt: SpikeFormat, key: str | None) -> np.ndarray:
    try:
        if fmt == "npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if not isinstance(array, np.ndarray):  # np.load returns an archive for zip bytes
                raise SpikeFileError(
                    f"{path}: is a zip archive, not a .npy array; rename it to .npz"
                )
            return array
        return _open_npz_array(path, _npz_member(path, key))
    except SpikeFileError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise SpikeFileError(f"{path}: not a valid .{fmt} array file ({err})") from err


def _array_info(
    path: Path, fmt: SpikeFormat, array: np.ndarray, height: int | None, width: int | None
) -> SpikeFileInfo:
    if array.ndim != 3:
        raise SpikeFileError(
            f"{path}: expected a spike array of shape [T, H, W], got shape {tuple(array.shape)}"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise SpikeFileError(f"{path}: spike array has non-numeric dtype {array.dtype}")
    num_frames, stored_height, stored_width = (int(n) for n in array.shape)
    if (height is not None and height != stored_height) or (
        width is not None and width != stored_width
    ):
        raise SpikeFileError(
            f"{path}: the array stores frames of {stored_height}x{stored_width} (H x W), but "
            f"height={height}, width={width} was requested; drop height/width or fix them"
        )
    return SpikeFileInfo(str(path), fmt, num_frames, stored_height, stored_width)


def read_spike_info(
    path: str | os.PathLike[str],
    height: int | None = None,
    width: int | None = None,
    *,
    key: str | None = None,
) -> SpikeFileInfo:
    """Read the layout of a spike file without reading its frames.

    Args:
        path: A `.dat`, `.npy` or `.npz` file.
        height: Frame height in pixels; required for `.dat`, checked against the array otherwise.
        width: Frame width in pixels; required for `.dat`, checked against the array otherwise.
        key: Array name inside a `.npz` file (default ``"spikes"``, or its only array).

    Returns:
        A :class:`SpikeFileInfo` with the frame count and frame size.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        SpikeFileError: If the extension is unknown, the frame size is missing or does not fit the
            file size, or the array is not ``[T, H, W]``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spike file not found: {path}")
    fmt = _detect_format(path)
    if fmt == "dat":
        return _dat_info(path, height, width)
    return _array_info(path, fmt, _open_array(path, fmt, key), height, width)


def _resolve_window(info: SpikeFileInfo, start: int, length: int | None) -> tuple[int, int]:
    if start < 0:
        raise SpikeFileError(f"{info.path}: window start must be >= 0, got {start}")
    if length is None:
        length = max(info.num_frames - start, 0)
    if length < 0:
        raise SpikeFileError(f"{info.path}: window length must be >= 0, got {length}")
    if start > info.num_frames or start + length > info.num_frames:
        raise SpikeFileError(
            f"{info.path}: window start={start}, length={length} ends at frame {start + length}, "
            f"past the end of the stream ({info.num_frames} frames of {info.height}x{info.width}); "
            f"use start + length <= {info.num_frames}"
        )
    return start, length


def _read_dat_window(info: SpikeFileInfo, start: int, length: int, flip_rows: bool) -> np.ndarray:
    if length == 0:
        return np.zeros((0, info.height, info.width), dtype=np.uint8)
    frame_bytes = info.bytes_per_frame
    raw = np.memmap(
        info.path, dtype=np.uint8, mode="r", offset=start * frame_bytes, shape=(length, frame_bytes)
    )
    bits = np.unpackbits(raw, axis=1, bitorder="little").reshape(length, info.height, info.width)
    del raw
    if flip_rows:
        bits = bits[:, ::-1, :]
    return np.ascontiguousarray(bits)


def read_spikes(
    path: str | os.PathLike[str],
    height: int | None = None,
    width: int | None = None,
    *,
    start: int = 0,
    length: int | None = None,
    key: str | None = None,
    flip_rows: bool = True,
) -> np.ndarray:
    """Read a window of frames from a spike file.

    Only the requested frames are read: `.dat`, `.npy` and uncompressed `.npz` files are
    memory-mapped. A compressed `.npz` member is decompressed whole (zip members cannot be mapped).

    Args:
        path: A `.dat`, `.npy` or `.npz` file.
        height: Frame height H in pixels; required for `.dat`.
        width: Frame width W in pixels; required for `.dat`.
        start: First frame of the window (0-based).
        length: Number of frames to read; ``None`` reads to the end.
        key: Array name inside a `.npz` file (default ``"spikes"``, or its only array).
        flip_rows: For `.dat` only: flip the bottom-up row order of the camera to top-down. Arrays in
            `.npy`/`.npz` are stored top-down and are never flipped.

    Returns:
        ``uint8`` array ``[length, H, W]`` of 0/1 spikes, rows top-down.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        SpikeFileError: If the frame size does not fit the file, the window runs past the end, or an
            array contains values other than 0 and 1.
    """
    info = read_spike_info(path, height, width, key=key)
    start, length = _resolve_window(info, int(start), None if length is None else int(length))
    if info.format == "dat":
        return _read_dat_window(info, start, length, flip_rows)

    array = _open_array(Path(path), info.format, key)
    window = np.asarray(array[start : start + length])
    if window.size and not np.isin(window, (0, 1)).all():
        bad = window[~np.isin(window, (0, 1))].flat[0]
        raise SpikeFileError(
            f"{path}: spike arrays must hold only 0 and 1, found {bad!r} in frames "
            f"{start}..{start + length - 1}; threshold or binarize the array before saving"
        )
    return window.astype(np.uint8, copy=True)


def _as_spike_array(spikes: object) -> np.ndarray:
    if hasattr(spikes, "detach"):  # a torch tensor, without importing torch here
        spikes = spikes.detach().cpu().numpy()  # type: ignore[union-attr]
    array = np.asarray(spikes)
    if array.ndim != 3:
        raise SpikeFileError(f"spikes must have shape [T, H, W], got shape {tuple(array.shape)}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise SpikeFileError(
            "spikes must hold only 0 and 1 (bool, integer or float); binarize them before writing"
        )
    return array.astype(np.uint8, copy=False)


def write_spikes(
    path: str | os.PathLike[str],
    spikes: np.ndarray,
    *,
    key: str = _DEFAULT_NPZ_KEY,
    compress: bool = False,
    flip_rows: bool = True,
) -> SpikeFileInfo:
    """Write a spike stream; the extension of ``path`` picks the format.

    The file is written to a temporary name in the same folder and renamed, so an interrupted write
    never leaves a partial file under ``path``. Missing parent folders are created.

    Args:
        path: Target `.dat`, `.npy` or `.npz` file.
        spikes: Array or tensor ``[T, H, W]`` of 0/1 values, rows top-down.
        key: Array name inside a `.npz` file.
        compress: For `.npz` only: deflate the array. A compressed member is loaded whole on read.
        flip_rows: For `.dat` only: store rows bottom-up, as the spike camera does.

    Returns:
        The :class:`SpikeFileInfo` of the written file.

    Raises:
        SpikeFileError: If ``spikes`` is not ``[T, H, W]`` of 0/1 values, or ``H * W`` is not a
            multiple of 8 for `.dat`.
    """
    path = Path(path)
    fmt = _detect_format(path)
    array = _as_spike_array(spikes)
    num_frames, height, width = array.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        if fmt == "dat":
            _check_frame_size(path, height, width)
            rows = array[:, ::-1, :] if flip_rows else array
            packed = np.packbits(
                rows.reshape(num_frames, height * width), axis=1, bitorder="little"
            )
            packed.tofile(tmp)
        elif fmt == "npy":
            np.save(tmp, array)
        else:
            saver = np.savez_compressed if compress else np.savez
            saver(tmp, **{key: array})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.debug("wrote %d spike frames of %dx%d to %s", num_frames, height, width, path)
    return SpikeFileInfo(str(path), fmt, num_frames, height, width)
