"""Batch sources for the proxies: synthetic, the shipped MNIST, scikit-learn digits, .npz files and image folders."""

import numpy as np
import pytest
import torch

from nas.proxies import (
    DigitsBatches,
    ImageFolderBatches,
    MnistBatches,
    NpzBatches,
    SyntheticBatches,
    get_batch_source,
    list_batch_sources,
)


def test_registry_and_specs():
    assert list_batch_sources() == ["digits", "folder", "mnist", "npz", "synthetic"]
    assert isinstance(get_batch_source("mnist"), MnistBatches)
    assert isinstance(get_batch_source("digits"), DigitsBatches)
    assert get_batch_source("folder:/some/where").path.name == "where"
    with pytest.raises(ValueError,
                       match="unknown batch source 'cifar'; choose from digits, folder, mnist, npz, synthetic"):
        get_batch_source("cifar")
    with pytest.raises(ValueError, match="batch source 'npz' takes a path"):
        get_batch_source("npz")


@pytest.mark.parametrize("source", [SyntheticBatches(), DigitsBatches(), MnistBatches()])
def test_deterministic_given_the_seed(source):
    a = source.batch(16, (3, 32, 32), 10, seed=5)
    b = source.batch(16, (3, 32, 32), 10, seed=5)
    c = source.batch(16, (3, 32, 32), 10, seed=6)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    assert a.inputs.dtype == torch.float32 and a.targets.dtype == torch.int64


def test_synthetic_is_standard_normal_with_uniform_labels():
    b = SyntheticBatches().batch(256, (3, 16, 16), 7, seed=0)
    assert abs(float(b.inputs.mean())) < 0.02 and abs(float(b.inputs.std()) - 1) < 0.02
    assert set(b.targets.tolist()) == set(range(7))


def test_digits_are_real_resized_standardised_images():
    b = DigitsBatches().batch(64, (3, 32, 32), 10, seed=0)
    assert b.inputs.shape == (64, 3, 32, 32)
    assert torch.equal(b.inputs[:, 0], b.inputs[:, 2])  # grey images replicated over the channels
    assert abs(float(b.inputs.mean())) < 0.3 and 0.5 < float(b.inputs.std()) < 1.5
    assert set(b.targets.tolist()) <= set(range(10)) and len(set(b.targets.tolist())) > 5
    with pytest.raises(ValueError, match="labels go up to 9 but the network has 5 classes"):
        DigitsBatches().batch(64, (3, 32, 32), 5)
    with pytest.raises(ValueError, match="batch_size 2000 exceeds the 1797 images available"):
        DigitsBatches().batch(2000, (3, 32, 32), 10)


def test_mnist_is_the_shipped_5k_images_with_balanced_labels():
    images, labels = MnistBatches().pool()
    assert images.shape == (5000, 1, 28, 28) and images.min() == 0 and images.max() == 1
    assert np.bincount(labels).tolist() == [500] * 10
    # A real digit: ink (bright pixels) in the centre, blank borders, as MNIST's 20x20 box in 28x28 has.
    mean = images.mean(axis=(0, 1))
    assert mean[10:18, 10:18].mean() > 5 * mean[:3].mean()
    b = MnistBatches().batch(64, (3, 32, 32), 10, seed=0)
    assert b.inputs.shape == (64, 3, 32, 32) and torch.equal(b.inputs[:, 0], b.inputs[:, 1])
    assert len(set(b.targets.tolist())) > 5


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="SyntheticBatches: batch_size must be an integer >= 1, got 0"):
        SyntheticBatches().batch(0, (3, 8, 8), 10)
    with pytest.raises(ValueError, match=r"input_shape must be \(channels, height, width\), got \(8, 8\)"):
        SyntheticBatches().batch(2, (8, 8), 10)


def test_npz_channels_last_is_recognised(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (10, 6, 6, 3)).astype(np.uint8)
    images[:, :, :, 1] = 0
    np.savez(tmp_path / "hwc.npz", images=images, labels=np.arange(10) % 4)
    b = NpzBatches(tmp_path / "hwc.npz").batch(10, (3, 6, 6), 4, seed=0)
    assert b.inputs.shape == (10, 3, 6, 6)
    assert torch.all(b.inputs[:, 1] == 0)  # the constant channel stays constant (standardised to 0)
    assert sorted(b.targets.tolist()) == sorted((np.arange(10) % 4).tolist())


def test_npz_errors_say_what_is_missing(tmp_path):
    np.savez(tmp_path / "bad.npz", pixels=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="holds pixels; it needs images under one of x, images, inputs"):
        NpzBatches(tmp_path / "bad.npz").batch(2, (1, 4, 4), 2)
    with pytest.raises(FileNotFoundError, match="no such file"):
        NpzBatches(tmp_path / "none.npz").batch(2, (1, 4, 4), 2)


def test_image_folder_reads_netpbm_without_pillow(tmp_path):
    for label, value in (("cat", 50), ("dog", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            pixels = np.full((5, 4, 3), value + i, dtype=np.uint8)
            (tmp_path / label / f"{i}.ppm").write_bytes(b"P6\n# a comment\n4 5\n255\n" + pixels.tobytes())
    (tmp_path / "cat" / "grey.pgm").write_bytes(b"P5 4 5 255\n" + np.full((5, 4), 60, dtype=np.uint8).tobytes())
    b = ImageFolderBatches(tmp_path).batch(7, (3, 8, 8), 2, seed=0)
    assert b.inputs.shape == (7, 3, 8, 8)
    assert sorted(b.targets.tolist()) == [0, 0, 0, 0, 1, 1, 1]
    assert float(b.inputs[b.targets == 0].max()) < float(b.inputs[b.targets == 1].min())


def test_image_folder_needs_pillow_for_png(tmp_path):
    try:
        import PIL  # noqa: F401
    except ImportError:
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "x.png").write_bytes(b"\x89PNG")
        with pytest.raises(ValueError, match=r"reading x.png needs Pillow \(pip install pillow\)"):
            ImageFolderBatches(tmp_path).batch(1, (3, 4, 4), 1)
    else:
        pytest.skip("Pillow is installed: .png files are read")


@pytest.mark.parametrize("header, pixels, reason", [
    (b"P5 4 4 0\n", bytes(16), "maxval 0 is outside 1..65535"),
    (b"P5 20000 20000 255\n", b"", "is 20000x20000 pixels; images of 1 to 16,777,216 pixels"),
    (b"P5 4 4 255\n", bytes(5), "the file ends before its 4x4 pixels"),
    (b"P5 four 4 255\n", bytes(16), "is not a binary P5 Netpbm image"),
])
def test_a_damaged_or_huge_netpbm_image_gets_one_line(tmp_path, header, pixels, reason):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.pgm").write_bytes(header + pixels)
    with pytest.raises(ValueError, match=reason):
        ImageFolderBatches(tmp_path).batch(1, (1, 8, 8), 1)


def test_nan_pixels_in_an_npz_are_refused(tmp_path):
    images = np.zeros((4, 8, 8))
    images[1, 2, 3] = np.nan
    np.savez(tmp_path / "x.npz", x=images, y=np.arange(4))
    with pytest.raises(ValueError, match="1 pixels are NaN or infinite"):
        NpzBatches(tmp_path / "x.npz").batch(2, (1, 8, 8), 4)
