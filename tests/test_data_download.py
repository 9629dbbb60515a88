"""Downloads through a local HTTP server: never the internet.

The server (127.0.0.1, a free port, in a thread) serves files the tests write:

    /good/<name>       the right bytes
    /corrupt/<name>    same size, one byte changed (wrong SHA-256)
    /short/<name>      announces the full Content-Length, sends half, closes the connection
    /missing/<name>    404
"""

import functools
import hashlib
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from minicnn.data import (
    CIFAR10,
    MNIST,
    DatasetFileError,
    DownloadError,
    download_file,
)
from minicnn.data.download import ensure_files
from minicnn.data.idx import write_idx


class Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/short/"):
            body = (Path(self.directory) / "good" / self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def files(tmp_path):
    """Small fake IDX files in every folder the server exposes; returns {name: sha256}."""
    served = tmp_path / "served"
    rng = np.random.default_rng(0)
    checksums = {}
    for prefix, n in (("train", 8), ("t10k", 4)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
            name = f"{prefix}-{kind}-ubyte.gz"
            (served / "good").mkdir(parents=True, exist_ok=True)
            write_idx(served / "good" / name, array)
            good = (served / "good" / name).read_bytes()
            corrupt = bytearray(good)
            corrupt[len(corrupt) // 2] ^= 0xFF
            (served / "corrupt").mkdir(exist_ok=True)
            (served / "corrupt" / name).write_bytes(bytes(corrupt))
            checksums[name] = hashlib.sha256(good).hexdigest()
    return checksums


@pytest.fixture
def server(tmp_path, files, monkeypatch):
    """Base URL of a local server over tmp_path/served; shut down when the test ends."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # a proxy must not intercept this
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handler = functools.partial(Handler, directory=str(tmp_path / "served"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port_url():
    """A URL on a port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


NAME = "train-images-idx3-ubyte.gz"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_download(tmp_path, server, files):
    target = tmp_path / "data" / "mnist"
    path = download_file(NAME, files[NAME], target, [f"{server}/good/"], progress=False)
    assert path == target / NAME
    assert path.read_bytes() == (tmp_path / "served" / "good" / NAME).read_bytes()
    assert leftovers(target) == [NAME]  # no temporary file left


def test_corrupt_first_mirror_falls_through_to_a_good_one(tmp_path, server, files):
    target = tmp_path / "data"
    download_file(NAME, files[NAME], target, [f"{server}/corrupt", f"{server}/good"],
                  progress=False)
    assert (target / NAME).read_bytes() == (tmp_path / "served" / "good" / NAME).read_bytes()
    assert leftovers(target) == [NAME]


def test_404_and_cut_off_mirrors_fall_through(tmp_path, server, files):
    target = tmp_path / "data"
    download_file(NAME, files[NAME], target,
                  [f"{server}/missing", f"{server}/short", f"{server}/good"], progress=False)
    assert leftovers(target) == [NAME]


def test_all_mirrors_bad(tmp_path, server, files):
    target = tmp_path / "data"
    mirrors = [f"{server}/corrupt", f"{server}/short", f"{server}/missing"]
    with pytest.raises(DownloadError) as caught:
        download_file(NAME, files[NAME], target, mirrors, progress=False)
    message = str(caught.value)
    assert NAME in message and files[NAME] in message and str(target) in message
    assert f"{server}/corrupt/{NAME}: served" in message and "expected " + files[NAME] in message
    assert f"{server}/short/{NAME}: transfer cut off after" in message
    assert f"{server}/missing/{NAME}: HTTP 404" in message
    assert [url for url, _ in caught.value.attempts] == [f"{m}/{NAME}" for m in mirrors]
    assert leftovers(target) == []  # no partial file, no temporary file


def test_no_server_at_all(tmp_path, closed_port_url, files, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", [closed_port_url, closed_port_url + "again/"])
    monkeypatch.setattr(MNIST, "resources", files)
    with pytest.raises(DownloadError) as caught:
        MNIST(root=tmp_path, download=True)
    message = str(caught.value)
    # Names the files still needed, their checksums, the folder and the mirrors tried.
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert name in message and files[name] in message
    assert str(tmp_path / "mnist") in message
    assert f"{closed_port_url}{NAME}: cannot connect" in message
    assert f"{closed_port_url}again/{NAME}: cannot connect" in message
    assert leftovers(tmp_path / "mnist") == []


def test_dataset_downloads_then_loads(tmp_path, server, files, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", [f"{server}/missing/", f"{server}/good/"])
    monkeypatch.setattr(MNIST, "resources", files)
    test = MNIST(root=tmp_path, train=False, download=True)
    assert test.data.shape == (4, 1, 28, 28)
    assert leftovers(tmp_path / "mnist") == ["t10k-images-idx3-ubyte.gz",
                                              "t10k-labels-idx1-ubyte.gz"]
    # Present and verified: a second load needs no server.
    monkeypatch.setattr(MNIST, "mirrors", [])
    assert len(MNIST(root=tmp_path, train=False, download=True)) == 4


def test_corrupt_present_file_is_replaced_when_download_is_allowed(tmp_path, server, files):
    target = tmp_path / "data"
    target.mkdir()
    (target / NAME).write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="downloading a fresh copy"):
        ensure_files(target, {NAME: files[NAME]}, [f"{server}/good"], download=True,
                     dataset="test", progress=False)
    assert (target / NAME).read_bytes() == (tmp_path / "served" / "good" / NAME).read_bytes()


def test_corrupt_present_file_is_an_error_without_download(tmp_path, files):
    (tmp_path / NAME).write_bytes(b"half a file")
    with pytest.raises(DatasetFileError, match="Delete it and download it again"):
        ensure_files(tmp_path, {NAME: files[NAME]}, [], download=False, dataset="test")


def test_progress_bar_runs(tmp_path, server, files, capsys):
    download_file(NAME, files[NAME], tmp_path, [f"{server}/good"], progress=True)
    assert (tmp_path / NAME).exists()
    assert NAME in capsys.readouterr().err  # tqdm writes its bar to stderr


def test_cifar_download_and_extract(tmp_path, server, monkeypatch):
    import io
    import tarfile

    records = bytes([3]) + bytes(range(256)) * 12  # one record: label 3, then 3,072 pixels
    members = {f"cifar-10-batches-bin/{name}": records for name in
               [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]}
    members["cifar-10-batches-bin/batches.meta.txt"] = "\n".join("abcdefghij").encode()
    archive = tmp_path / "served" / "good" / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    monkeypatch.setattr(CIFAR10, "mirrors", [f"{server}/good/"])
    monkeypatch.setattr(CIFAR10, "archive_sha256", hashlib.sha256(archive.read_bytes()).hexdigest())
    train = CIFAR10(root=tmp_path / "root", train=True, download=True)
    assert train.data.shape == (5, 3, 32, 32) and train.targets.tolist() == [3] * 5
    assert train.classes == list("abcdefghij")
    assert (tmp_path / "root" / "cifar-10-binary.tar.gz").is_file()  # kept for offline re-use
