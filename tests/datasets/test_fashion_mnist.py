import gzip
import hashlib
import http.server
import os
import socket
import threading
import warnings
from functools import partial

import numpy as np
import pytest

from skanomaly.datasets import _fashion_mnist, fetch_fashion_mnist, get_data_home
from skanomaly.datasets._fashion_mnist import _parse_idx

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _idx_bytes(array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.tobytes()


def _md5(data):
    return hashlib.md5(data).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _FakeFashionMNIST:
    """Tiny Fashion-MNIST files served by a local HTTP server."""

    def __init__(self, root, monkeypatch):
        rng = np.random.RandomState(0)
        self.X_train = rng.randint(0, 256, size=(6, 28, 28)).astype(np.uint8)
        self.y_train = np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8)
        self.X_test = rng.randint(0, 256, size=(4, 28, 28)).astype(np.uint8)
        self.y_test = np.array([5, 6, 7, 8], dtype=np.uint8)
        self.serve_dir = root / "server"
        (self.serve_dir / "fashion").mkdir(parents=True)
        self.cache_home = root / "home"
        self.cache_dir = self.cache_home / "fashion-mnist"
        arrays = (self.X_train, self.y_train, self.X_test, self.y_test)
        self.raw, self.gz, table = {}, {}, {}
        for name, array in zip(NAMES, arrays):
            self.raw[name] = _idx_bytes(array)
            self.gz[name] = gzip.compress(self.raw[name], mtime=0)
            (self.serve_dir / "fashion" / name).write_bytes(self.gz[name])
            table[name] = (_md5(self.gz[name]), _md5(self.raw[name]))
        monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_FILES", table)
        monkeypatch.setattr(
            _fashion_mnist, "FASHION_MNIST_SYSTEM_DIRS", (str(root / "absent"),)
        )
        monkeypatch.setattr(_fashion_mnist, "DOWNLOAD_TIMEOUT", 5.0)
        monkeypatch.delenv(_fashion_mnist.FASHION_MNIST_URL_ENV, raising=False)
        monkeypatch.delenv("SKANOMALY_DATA", raising=False)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")
        handler = partial(_QuietHandler, directory=str(self.serve_dir))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fashion/"
        monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_URL", self.url)
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def stop(self):
        if self._thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self._thread.join()
            self._thread = None


@pytest.fixture
def fake(tmp_path, monkeypatch):
    fake = _FakeFashionMNIST(tmp_path, monkeypatch)
    yield fake
    fake.stop()


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/fashion/"


@pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, n)) for n in NAMES),
    reason="the Debian package dataset-fashion-mnist is not installed",
)
def test_fetch_real_fashion_mnist(tmp_path):
    """Check shapes, dtypes and class balance of the real Fashion-MNIST."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the files pass their checksums
        train = fetch_fashion_mnist(data_home=tmp_path, download_if_missing=False)
        X_test, y_test = fetch_fashion_mnist(
            subset="test",
            data_home=tmp_path,
            download_if_missing=False,
            return_X_y=True,
        )
    assert train.images.shape == (60000, 28, 28)
    assert train.images.dtype == np.uint8
    assert train.target.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(train.target), [6000] * 10)
    assert X_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert train.target_names[0] == "T-shirt/top"
    assert train.target_names[9] == "Ankle boot"
    assert len(train.target_names) == 10
    assert 60 < train.images.mean() < 90
    # read in place: nothing was copied into the cache
    assert not (tmp_path / "fashion-mnist").exists()


def test_download_from_local_server_then_cache(fake):
    """Check that files are downloaded, verified, cached and then reused."""
    data = fetch_fashion_mnist(subset="all", data_home=fake.cache_home)
    np.testing.assert_array_equal(
        data.images, np.concatenate([fake.X_train, fake.X_test])
    )
    np.testing.assert_array_equal(
        data.target, np.concatenate([fake.y_train, fake.y_test])
    )
    assert data.target.dtype == np.int64
    assert sorted(os.listdir(fake.cache_dir)) == sorted(NAMES)

    fake.stop()  # the second call must not need the network
    X, y = fetch_fashion_mnist(
        subset="test", data_home=fake.cache_home, return_X_y=True
    )
    np.testing.assert_array_equal(X, fake.X_test)
    np.testing.assert_array_equal(y, fake.y_test)


def test_url_and_data_home_from_environment(fake, monkeypatch):
    """Check that SKANOMALY_FASHION_MNIST_URL and SKANOMALY_DATA are honoured."""
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_URL", _closed_port_url())
    monkeypatch.setenv("SKANOMALY_FASHION_MNIST_URL", fake.url)
    monkeypatch.setenv("SKANOMALY_DATA", str(fake.cache_home))
    X, y = fetch_fashion_mnist(subset="test", return_X_y=True)
    np.testing.assert_array_equal(X, fake.X_test)
    assert sorted(os.listdir(fake.cache_dir)) == sorted(NAMES[2:])


def test_checksum_mismatch_raises_and_leaves_no_file(fake, monkeypatch):
    """Check that a download with a wrong checksum raises and is deleted."""
    table = dict(_fashion_mnist.FASHION_MNIST_FILES)
    table[NAMES[0]] = ("0" * 32, "0" * 32)
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_FILES", table)
    with pytest.raises(OSError, match="checksum") as excinfo:
        fetch_fashion_mnist(data_home=fake.cache_home)
    assert not isinstance(excinfo.value, FileNotFoundError)
    assert "corrupt and was deleted" in str(excinfo.value)
    assert not fake.cache_dir.exists() or os.listdir(fake.cache_dir) == []


def test_offline_and_absent_raises_helpful_error(fake, monkeypatch):
    """Check that missing data without network raises where-and-how advice."""
    fake.stop()
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_URL", _closed_port_url())
    with pytest.raises(FileNotFoundError) as excinfo:
        fetch_fashion_mnist(data_home=fake.cache_home)
    message = str(excinfo.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "internet" in message
    assert str(fake.cache_dir) in message
    assert _fashion_mnist.FASHION_MNIST_SYSTEM_DIRS[0] in message
    assert not fake.cache_dir.exists() or os.listdir(fake.cache_dir) == []


def test_download_disabled_raises(fake):
    """Check that download_if_missing=False raises instead of downloading."""
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        fetch_fashion_mnist(data_home=fake.cache_home, download_if_missing=False)
    assert not fake.cache_dir.exists()


def test_system_folder_is_read_in_place(fake, monkeypatch, tmp_path):
    """Check that system files are used, also when re-compressed differently."""
    fake.stop()
    system = tmp_path / "system"
    system.mkdir()
    for name in NAMES:
        # other gzip bytes, same content: accepted through the content MD5
        (system / name).write_bytes(gzip.compress(fake.raw[name], mtime=12345))
        assert (system / name).read_bytes() != fake.gz[name]
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_SYSTEM_DIRS", (str(system),))
    X, y = fetch_fashion_mnist(data_home=fake.cache_home, return_X_y=True)
    np.testing.assert_array_equal(X, fake.X_train)
    np.testing.assert_array_equal(y, fake.y_train)
    assert not fake.cache_dir.exists()


def test_corrupt_cached_file_is_replaced(fake):
    """Check that a corrupt cached file is removed with a warning, re-fetched."""
    fake.cache_dir.mkdir(parents=True)
    (fake.cache_dir / NAMES[0]).write_bytes(b"not a gzip file")
    with pytest.warns(UserWarning, match="corrupt cached copy"):
        X, _ = fetch_fashion_mnist(data_home=fake.cache_home, return_X_y=True)
    np.testing.assert_array_equal(X, fake.X_train)
    assert (fake.cache_dir / NAMES[0]).read_bytes() == fake.gz[NAMES[0]]


def test_corrupt_idx_content_raises(fake, monkeypatch):
    """Check that a file with a valid checksum but a bad IDX header raises."""
    bad = b"\x00\x00\x08\x01" + np.array([5], ">u4").tobytes() + bytes(6)
    bad_gz = gzip.compress(bad, mtime=0)
    (fake.serve_dir / "fashion" / NAMES[1]).write_bytes(bad_gz)
    table = dict(_fashion_mnist.FASHION_MNIST_FILES)
    table[NAMES[1]] = (_md5(bad_gz), _md5(bad))
    monkeypatch.setattr(_fashion_mnist, "FASHION_MNIST_FILES", table)
    with pytest.raises(ValueError, match="announces shape"):
        fetch_fashion_mnist(data_home=fake.cache_home)


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\x01\x00\x08\x01", "magic number"),
        (b"\x00\x00\x0d\x01" + bytes(4), "type code 0x0d"),
        (b"\x00\x00\x08\x03" + bytes(4), "3 dimensions; expected 1"),
        (b"\x00\x00\x08\x01\x00", "truncated"),
        (b"\x00\x00\x08\x01" + np.array([3], ">u4").tobytes() + bytes(2), "3 bytes"),
    ],
)
def test_parse_idx_rejects_corrupt_data(raw, match):
    """Check that malformed IDX data raise a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=match):
        _parse_idx(raw, 1, "labels.idx")


def test_parse_idx_reads_array():
    """Check that a well-formed IDX buffer parses to the right array."""
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    parsed = _parse_idx(_idx_bytes(array), 3, "images.idx")
    np.testing.assert_array_equal(parsed, array)
    assert parsed.flags.writeable


def test_invalid_subset_raises():
    """Check that an unknown subset raises a ValueError listing valid ones."""
    with pytest.raises(ValueError, match="subset must be one of"):
        fetch_fashion_mnist(subset="validation")


def test_get_data_home_precedence(tmp_path, monkeypatch):
    """Check that data_home beats SKANOMALY_DATA, which beats the default."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SKANOMALY_DATA", raising=False)
    assert get_data_home() == str(tmp_path / "skanomaly_data")
    assert (tmp_path / "skanomaly_data").is_dir()
    monkeypatch.setenv("SKANOMALY_DATA", str(tmp_path / "env"))
    assert get_data_home() == str(tmp_path / "env")
    assert get_data_home(tmp_path / "arg") == str(tmp_path / "arg")
    assert get_data_home("~/tilde") == str(tmp_path / "tilde")
