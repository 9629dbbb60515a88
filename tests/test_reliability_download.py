"""Downloads and extraction fail for what they are: a full disk, a folder that cannot be
written, a damaged archive, a server that sends too much or too slowly.

A local server (127.0.0.1, a thread) serves what each test needs; nothing is fetched from
the internet. A full disk and a refused write are injected into the real ``atomic_write``
(its temporary file and its clean-up stay real): a test cannot fill the machine's disk, and
permissions do not stop root.
"""

import errno
import hashlib
import io
import tarfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from minicnn import _atomic
from minicnn.data import CIFAR10, DatasetFileError, DatasetWriteError, DownloadError, download_file
from minicnn.data import archive as archive_module
from minicnn.data import download as download_module

BODY = bytes(range(256)) * 64  # 16 KiB
SHA = hashlib.sha256(BODY).hexdigest()


class Server:
    """Routes: /good/<f> BODY; /endless/<f> never ends, no length; /liar/<f> claims 1 GB;
    /trickle/<f> a byte every 50 ms. Counts requests and bytes sent."""

    def __init__(self, files=None):
        self.files = {"f": BODY, **(files or {})}
        self.requests, self.bytes_sent = [], 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                route, name = self.path.strip("/").split("/", 1)
                server.requests.append(self.path)
                self.send_response(200)
                try:
                    if route == "good":
                        self.send_header("Content-Length", str(len(server.files[name])))
                        self.end_headers()
                        self._send(server.files[name])
                    elif route == "liar":
                        self.send_header("Content-Length", str(10**9))
                        self.end_headers()
                        self._send(BODY)
                    elif route == "endless":
                        self.end_headers()
                        for _ in range(4096):  # 64 MiB unless the client stops reading
                            self._send(BODY)
                    elif route == "trickle":
                        self.send_header("Content-Length", str(len(BODY)))
                        self.end_headers()
                        for byte in BODY:
                            self._send(bytes([byte]))
                            time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up, as it should

            def _send(self, data):
                self.wfile.write(data)
                self.wfile.flush()
                server.bytes_sent += len(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    running = Server()
    yield running
    running.close()


def failing_atomic_write(error_number, after_bytes=0):
    """``atomic_write`` whose file refuses writes past ``after_bytes`` with that errno
    (``after_bytes=None``: creating the file itself is refused)."""
    @contextmanager
    def replacement(path, mode="wb", encoding=None):
        if after_bytes is None:
            raise OSError(error_number, "injected", str(path))
        with _atomic.atomic_write(path, mode, encoding) as file:
            yield _FailingFile(file, error_number, after_bytes)
    return replacement


class _FailingFile:
    def __init__(self, file, error_number, after_bytes):
        self.file, self.error_number, self.left = file, error_number, after_bytes

    def write(self, data):
        if len(data) > self.left:
            raise OSError(self.error_number, "No space left on device"
                          if self.error_number == errno.ENOSPC else "Permission denied")
        self.left -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- sizes and time ------------------------------------------------------------------------------

def test_a_download_stops_one_byte_past_the_known_size(tmp_path, server):
    with pytest.raises(DownloadError, match="sent more than the 4,542 bytes") as caught:
        download_file("f", SHA, tmp_path, [f"{server.url}/endless"], max_bytes=4542,
                      progress=False)
    assert caught.value.attempts  # the mirror's fault: a good mirror after it would be tried
    time.sleep(0.2)  # let the server notice the closed connection
    # The server offered 64 MiB; the client read 4,543 bytes and hung up (socket buffers on
    # either side hold a few MB at most).
    assert server.bytes_sent < 16 * 2**20
    assert leftovers(tmp_path) == []


def test_an_announced_size_past_the_limit_is_refused_before_reading(tmp_path, server):
    with pytest.raises(DownloadError, match="announces 1,000,000,000 bytes, but the file has "
                                            "at most 16,384"):
        download_file("f", SHA, tmp_path, [f"{server.url}/liar"], max_bytes=len(BODY),
                      progress=False)
    assert leftovers(tmp_path) == []


def test_a_trickling_server_is_cut_off_at_the_overall_deadline(tmp_path, server, monkeypatch):
    # Each byte comes well within the per-read timeout; only the overall deadline can stop it.
    monkeypatch.setattr(download_module, "TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(download_module, "MIN_BYTES_PER_SECOND", 10**9)
    assert download_module.deadline_seconds(len(BODY)) < 1.01
    start = time.monotonic()
    with pytest.raises(DownloadError, match="too slow"):
        download_file("f", SHA, tmp_path, [f"{server.url}/trickle"], max_bytes=len(BODY),
                      progress=False)
    assert time.monotonic() - start < 3  # the whole body would take 819 s
    assert leftovers(tmp_path) == []


def test_the_known_sizes_are_the_datasets_real_sizes():
    from minicnn.data import MNIST, FashionMNIST
    for dataset in (MNIST, FashionMNIST):
        assert dataset.sizes.keys() == dataset.resources.keys()
    assert MNIST.sizes["t10k-labels-idx1-ubyte.gz"] == 4542  # 8-byte header + 10,000 labels, gzip
    assert CIFAR10.archive_size == 170_052_171


# -- the disk, not the mirror --------------------------------------------------------------------

def test_a_full_disk_stops_the_download_at_once_and_says_so(tmp_path, server, monkeypatch):
    monkeypatch.setattr(download_module, "atomic_write", failing_atomic_write(errno.ENOSPC, 1000))
    mirrors = [f"{server.url}/good", f"{server.url}/good"]
    with pytest.raises(DatasetWriteError) as caught:
        download_file("f", SHA, tmp_path, mirrors, progress=False, context="MNIST (train)")
    message = str(caught.value)
    assert message.startswith("MNIST (train): the disk is full") and str(tmp_path / "f") in message
    assert "every mirror failed" not in message and "do not delete them" in message
    assert caught.value.errno == errno.ENOSPC
    assert isinstance(caught.value, OSError) and not isinstance(caught.value, DownloadError)
    assert len(server.requests) == 1  # the second mirror was not tried: it could not help
    assert leftovers(tmp_path) == []  # the real atomic_write deleted its temporary file


def test_a_folder_that_cannot_be_written_says_permission_denied(tmp_path, server, monkeypatch):
    monkeypatch.setattr(download_module, "atomic_write",
                        failing_atomic_write(errno.EACCES, after_bytes=None))
    with pytest.raises(DatasetWriteError, match="permission denied: cannot write") as caught:
        download_file("f", SHA, tmp_path, [f"{server.url}/good"] * 2, progress=False)
    assert "every mirror failed" not in str(caught.value)
    assert server.requests == []


def test_a_dataset_download_on_a_full_disk_names_the_dataset(tmp_path, server, monkeypatch):
    from minicnn.data import MNIST
    files = {name: BODY for name in MNIST.resources}
    server.files.update(files)
    monkeypatch.setattr(MNIST, "resources", {name: SHA for name in files})
    monkeypatch.setattr(MNIST, "sizes", {name: len(BODY) for name in files})
    monkeypatch.setattr(MNIST, "mirrors", [f"{server.url}/good/"])
    monkeypatch.setattr(download_module, "atomic_write", failing_atomic_write(errno.ENOSPC, 0))
    with pytest.raises(DatasetWriteError, match=r"^MNIST \(train\): the disk is full"):
        MNIST(root=tmp_path, train=True)


# -- extracting CIFAR-10 -------------------------------------------------------------------------

def _cifar_archive(path):
    record = bytes([3]) + bytes(range(256)) * 12
    members = {f"cifar-10-batches-bin/{name}": record for name in
               [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]}
    members["cifar-10-batches-bin/batches.meta.txt"] = "\n".join("abcdefghij").encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_while_extracting_is_not_a_damaged_archive(tmp_path, monkeypatch):
    archive = tmp_path / CIFAR10.archive
    monkeypatch.setattr(CIFAR10, "archive_sha256", _cifar_archive(archive))
    good_bytes = archive.read_bytes()
    monkeypatch.setattr(archive_module, "atomic_write", failing_atomic_write(errno.ENOSPC, 0))
    with pytest.raises(DatasetWriteError) as caught:
        CIFAR10(root=tmp_path, download=False)
    message = str(caught.value)
    assert message.startswith("CIFAR-10: the disk is full") and "data_batch_1.bin" in message
    assert "damaged" not in message and "download it again" not in message
    assert archive.read_bytes() == good_bytes  # the good archive is still there
    assert leftovers(tmp_path / CIFAR10.folder) == []  # no half-extracted file
    monkeypatch.undo()  # space freed: the same archive extracts
    monkeypatch.setattr(CIFAR10, "archive_sha256", hashlib.sha256(good_bytes).hexdigest())
    assert len(CIFAR10(root=tmp_path, download=False)) == 5


def test_permission_denied_while_extracting(tmp_path, monkeypatch):
    archive = tmp_path / CIFAR10.archive
    monkeypatch.setattr(CIFAR10, "archive_sha256", _cifar_archive(archive))
    monkeypatch.setattr(archive_module, "atomic_write",
                        failing_atomic_write(errno.EROFS, after_bytes=None))
    with pytest.raises(DatasetWriteError, match=r"^CIFAR-10: permission denied"):
        CIFAR10(root=tmp_path, download=False)


def test_a_damaged_archive_is_still_called_damaged(tmp_path):
    archive = tmp_path / "a.tar.gz"
    _cifar_archive(archive)
    archive.write_bytes(archive.read_bytes()[:300])  # cut off inside the compressed stream
    with pytest.raises(DatasetFileError, match=r"damaged archive .*download it again"):
        archive_module.extract_members(archive, ["cifar-10-batches-bin/test_batch.bin"], tmp_path)
    not_gzip = tmp_path / "b.tar.gz"
    not_gzip.write_bytes(b"this is not gzip data at all" * 10)
    with pytest.raises(DatasetFileError, match="damaged archive"):
        archive_module.extract_members(not_gzip, ["cifar-10-batches-bin/test_batch.bin"], tmp_path)
