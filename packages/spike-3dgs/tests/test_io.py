"""Spike stream I/O: round trips, windowed reads, errors, fuzzing and the real recordings."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.io import imread

from spike_3dgs import SpikeFileError, read_spike_info, read_spikes, tfp, write_spikes

CAR = "spike_camera/histsflow_real/car.dat"
REDS_SPIKES = "spike_camera/spikezoo_reds_base/spike/200_part1_key_id151.dat"
REDS_GT = "spike_camera/spikezoo_reds_base/gt/200_part1_key_id151.png"


def _random_spikes(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < 0.3).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".dat", ".npy", ".npz"])
def test_round_trip_every_format(tmp_path: Path, suffix: str) -> None:
    spikes = _random_spikes((7, 4, 6))
    path = tmp_path / f"stream{suffix}"
    info = write_spikes(path, spikes)
    assert info.num_frames == 7
    read = read_spikes(path, 4, 6)
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, spikes)


def test_round_trip_compressed_npz(tmp_path: Path) -> None:
    spikes = _random_spikes((5, 8, 8))
    write_spikes(tmp_path / "s.npz", spikes, compress=True)
    np.testing.assert_array_equal(read_spikes(tmp_path / "s.npz", start=1, length=3), spikes[1:4])


def test_dat_layout_lsb_first_bottom_up(tmp_path: Path) -> None:
    # One 2x8 frame: a single spike at the top-left pixel (row 0, column 0).
    spikes = np.zeros((1, 2, 8), dtype=np.uint8)
    spikes[0, 0, 0] = 1
    write_spikes(tmp_path / "one.dat", spikes)
    raw = (tmp_path / "one.dat").read_bytes()
    # Rows are stored bottom-up, so the top row is the second byte; bit 0 is the first pixel.
    assert raw == bytes([0, 1])


def test_dat_reader_matches_reference_decoder(tmp_path: Path) -> None:
    spikes = _random_spikes((3, 8, 16), seed=3)
    path = tmp_path / "s.dat"
    write_spikes(path, spikes)
    raw = np.fromfile(path, np.uint8).reshape(-1, 8 * 16 // 8)
    reference = np.unpackbits(raw, axis=1, bitorder="little").reshape(-1, 8, 16)[:, ::-1, :]
    np.testing.assert_array_equal(read_spikes(path, 8, 16), reference)


@pytest.mark.parametrize("suffix", [".dat", ".npy", ".npz"])
def test_windowed_read_equals_slice(tmp_path: Path, suffix: str) -> None:
    spikes = _random_spikes((20, 8, 8), seed=1)
    path = tmp_path / f"s{suffix}"
    write_spikes(path, spikes)
    np.testing.assert_array_equal(read_spikes(path, 8, 8, start=5, length=7), spikes[5:12])
    np.testing.assert_array_equal(read_spikes(path, 8, 8, start=15), spikes[15:])
    assert read_spikes(path, 8, 8, start=20).shape == (0, 8, 8)


def test_dat_size_not_whole_frames_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.dat"
    path.write_bytes(b"\x00" * 13)
    with pytest.raises(SpikeFileError, match=r"bad\.dat.*not a whole number of 8x8 frames"):
        read_spikes(path, 8, 8)


def test_dat_size_error_suggests_fitting_size(tmp_path: Path) -> None:
    path = tmp_path / "cam.dat"
    path.write_bytes(b"\x00" * (250 * 400 // 8 * 3))
    with pytest.raises(SpikeFileError, match="250x400 would fit"):
        read_spikes(path, 256, 256)


def test_dat_without_size_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.dat"
    path.write_bytes(b"\x00" * 8)
    with pytest.raises(SpikeFileError, match="pass height and width"):
        read_spikes(path)


def test_dat_size_not_multiple_of_8_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.dat"
    path.write_bytes(b"\x00" * 8)
    with pytest.raises(SpikeFileError, match="not a multiple of 8"):
        read_spikes(path, 3, 5)


def test_window_past_end_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.dat"
    write_spikes(path, _random_spikes((10, 8, 8)))
    with pytest.raises(SpikeFileError, match=r"past the end.*10 frames"):
        read_spikes(path, 8, 8, start=8, length=5)
    with pytest.raises(SpikeFileError, match="start must be >= 0"):
        read_spikes(path, 8, 8, start=-1)


def test_npy_size_mismatch_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.npy"
    write_spikes(path, _random_spikes((4, 8, 8)))
    with pytest.raises(SpikeFileError, match="stores frames of 8x8"):
        read_spikes(path, 8, 16)


def test_npy_non_binary_values_raise(tmp_path: Path) -> None:
    path = tmp_path / "s.npy"
    np.save(path, np.full((2, 4, 4), 3, dtype=np.uint8))
    with pytest.raises(SpikeFileError, match="only 0 and 1"):
        read_spikes(path)


def test_npy_wrong_rank_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.npy"
    np.save(path, np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(SpikeFileError, match=r"\[T, H, W\]"):
        read_spikes(path)


def test_npz_key_selection(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    np.savez(path, a=np.zeros((2, 4, 4), np.uint8), b=np.ones((3, 4, 4), np.uint8))
    with pytest.raises(SpikeFileError, match="pass key="):
        read_spikes(path)
    assert read_spikes(path, key="b").sum() == 3 * 16
    with pytest.raises(SpikeFileError, match="no array named 'c'"):
        read_spikes(path, key="c")


def test_uncompressed_npz_is_memory_mapped(tmp_path: Path) -> None:
    from spike_3dgs.io import _open_npz_array

    path = tmp_path / "s.npz"
    spikes = _random_spikes((6, 8, 8))
    write_spikes(path, spikes)
    array = _open_npz_array(path, "spikes")
    assert isinstance(array, np.memmap)
    np.testing.assert_array_equal(np.asarray(array), spikes)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "s.bin").write_bytes(b"\x00")
    with pytest.raises(SpikeFileError, match="unknown spike file extension"):
        read_spikes(tmp_path / "s.bin", 8, 8)
    with pytest.raises(FileNotFoundError, match="spike file not found"):
        read_spikes(tmp_path / "missing.dat", 8, 8)


def test_write_rejects_non_binary(tmp_path: Path) -> None:
    with pytest.raises(SpikeFileError, match="only 0 and 1"):
        write_spikes(tmp_path / "s.dat", np.full((1, 8, 8), 0.5))
    assert not (tmp_path / "s.dat").exists()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300), height=st.integers(1, 20), width=st.integers(1, 20))
def test_dat_reader_fuzz(tmp_path: Path, data: bytes, height: int, width: int) -> None:
    path = tmp_path / "fuzz.dat"
    path.write_bytes(data)
    try:
        spikes = read_spikes(path, height, width)
    except SpikeFileError:
        return
    assert spikes.shape == (len(data) * 8 // (height * width), height, width)
    assert spikes.sum() == sum(bin(byte).count("1") for byte in data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".npy", ".npz"]))
def test_array_reader_fuzz_garbage(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    with pytest.raises(SpikeFileError):
        read_spikes(path)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frames=st.integers(0, 6),
    height=st.integers(1, 6),
    width_bytes=st.integers(1, 3),
    suffix=st.sampled_from([".dat", ".npy", ".npz"]),
    seed=st.integers(0, 2**16),
    start=st.integers(0, 6),
)
def test_round_trip_fuzz(
    tmp_path: Path, frames: int, height: int, width_bytes: int, suffix: str, seed: int, start: int
) -> None:
    width = 8 * width_bytes
    spikes = _random_spikes((frames, height, width), seed)
    path = tmp_path / f"fuzz{suffix}"
    write_spikes(path, spikes)
    if start > frames:
        with pytest.raises(SpikeFileError):
            read_spikes(path, height, width, start=start)
        return
    np.testing.assert_array_equal(read_spikes(path, height, width, start=start), spikes[start:])


def test_truncated_zip_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    write_spikes(path, _random_spikes((4, 8, 8)))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises((SpikeFileError, zipfile.BadZipFile)):
        read_spikes(path)


def test_real_recording_car(shared_data: Path) -> None:
    path = shared_data / CAR
    info = read_spike_info(path, 250, 400)
    assert info.num_frames == 200
    spikes = read_spikes(path, 250, 400)
    assert spikes.shape == (200, 250, 400)
    assert abs(spikes.mean() - 0.366) < 0.002
    per_frame = spikes.mean(axis=(1, 2))
    assert per_frame.min() > 0.355
    assert per_frame.max() < 0.380
    window = read_spikes(path, 250, 400, start=100, length=10)
    np.testing.assert_array_equal(window, spikes[100:110])


def test_real_recording_wrong_size(shared_data: Path) -> None:
    with pytest.raises(SpikeFileError, match=r"car\.dat"):
        read_spikes(shared_data / CAR, 256, 400)


def test_simulated_stream_matches_ground_truth(shared_data: Path) -> None:
    spikes = read_spikes(shared_data / REDS_SPIKES, 250, 400)
    gt = imread(shared_data / REDS_GT).astype(np.float64) / 255.0
    assert spikes.shape == (301, 250, 400)
    # Firing rate 0.6 at intensity 1: mean rate / 0.6 matches the mean grey level.
    assert abs(spikes.mean() / 0.6 - gt.mean()) < 0.01
    image = tfp(spikes, center=150, window=41, max_rate=0.6).numpy()
    assert np.corrcoef(image.ravel(), gt.ravel())[0, 1] > 0.98
    # Without the row flip the image is upside down and barely correlates.
    flipped = read_spikes(shared_data / REDS_SPIKES, 250, 400, flip_rows=False)
    upside_down = tfp(flipped, center=150, window=41).numpy()
    assert abs(np.corrcoef(upside_down.ravel(), gt.ravel())[0, 1]) < 0.3


def test_write_creates_missing_folders(tmp_path):
    spikes = np.zeros((2, 2, 4), dtype=np.uint8)
    spikes[1, 0, 0] = 1
    target = tmp_path / "new" / "folder" / "stream.dat"
    write_spikes(target, spikes)
    assert np.array_equal(read_spikes(target, height=2, width=4), spikes)
