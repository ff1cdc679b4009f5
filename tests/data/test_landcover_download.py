"""The Landcover.ai download against a local HTTP server: a broken-off download continues where it stopped (HTTP
Range), a corrupt one is set aside by its md5, an interrupted extraction leaves nothing that looks complete."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile

import numpy as np
import pytest

from tslib.cli import main
from tslib.data.download import DownloadError
from tslib.data.landcover import download_landcover


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A small zip in the Landcover.ai layout (incompressible bytes, so it is big enough to cut in two)."""
    root = tmp_path_factory.mktemp("lc-zip")
    path = root / "landcover.ai.v1.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images/x.tif", rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes())
        z.writestr("masks/x.tif", rng.integers(0, 5, 50_000, dtype=np.uint8).tobytes())
        for name in ("train", "val", "test"):
            z.writestr(f"{name}.txt", "x_0\n")
    data = path.read_bytes()
    return data, hashlib.md5(data).hexdigest()


class Server:
    """Serves ``data`` with Range support; ``cut_after`` bytes into the first response it closes the connection."""

    def __init__(self, data: bytes, cut_after: int | None = None):
        self.data, self.cut_after, self.ranges = data, cut_after, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                server.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(server.data):
                    self.send_response(416)
                    self.end_headers()
                    return
                body = server.data[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[:server.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/landcover.ai.v1.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(archive):
    servers = []

    def start(**kw) -> Server:
        servers.append(Server(archive[0], **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_broken_off_download_continues_where_it_stopped(tmp_path, archive, serve):
    data, md5 = archive
    server = serve(cut_after=100_000)
    with pytest.raises(DownloadError, match="broke off.*run the command again"):
        download_landcover(tmp_path, url=server.url, md5=md5)
    part = tmp_path / "landcover.ai.v1.zip.part"
    assert part.stat().st_size == 100_000 and not (tmp_path / "landcover").exists()
    target = download_landcover(tmp_path, url=server.url, md5=md5)
    assert server.ranges == [None, "bytes=100000-"]  # the second request asked only for the rest
    assert (target / "images" / "x.tif").is_file() and (target / "train.txt").read_text() == "x_0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landcover", "landcover.ai.v1.zip"]


def test_a_partial_file_that_is_already_whole(tmp_path, archive, serve):
    data, md5 = archive
    (tmp_path / "landcover.ai.v1.zip.part").write_bytes(data)  # killed between the last byte and the rename
    server = serve()
    assert (download_landcover(tmp_path, url=server.url, md5=md5) / "masks" / "x.tif").is_file()
    assert server.ranges == [f"bytes={len(data)}-"]  # answered 416: nothing re-downloaded


def test_corrupt_download_is_set_aside_and_the_retry_starts_afresh(tmp_path, archive, serve, capsys, monkeypatch):
    data, md5 = archive
    bad = bytearray(data)
    bad[5000] ^= 0xFF
    (tmp_path / "landcover.ai.v1.zip.part").write_bytes(bytes(bad))  # every byte there, one of them wrong
    server = serve()
    with pytest.raises(DownloadError, match="md5 differs"):
        download_landcover(tmp_path, url=server.url, md5=md5)
    assert (tmp_path / "landcover.ai.v1.zip.bad").is_file() and not (tmp_path / "landcover").exists()
    assert (download_landcover(tmp_path, url=server.url, md5=md5) / "images" / "x.tif").is_file()
    assert server.ranges[-1] is None  # the retry fetched the whole file


def test_interrupted_extraction_leaves_nothing_half_done(tmp_path, archive, serve, monkeypatch):
    data, md5 = archive
    server = serve()
    real = zipfile.ZipFile._extract_member  # what extractall calls per member

    def extract_then_stop(self, member, path, pwd):
        real(self, member, path, pwd)
        raise KeyboardInterrupt  # Ctrl-C after the first file

    monkeypatch.setattr(zipfile.ZipFile, "_extract_member", extract_then_stop)
    with pytest.raises(KeyboardInterrupt):
        download_landcover(tmp_path, url=server.url, md5=md5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landcover.ai.v1.zip"]  # the checked zip is kept
    monkeypatch.undo()
    target = download_landcover(tmp_path, url=server.url, md5=md5)
    assert len(server.ranges) == 1  # the retry extracts the kept zip, no second download
    assert sorted(p.name for p in target.iterdir()) == ["images", "masks", "test.txt", "train.txt", "val.txt"]


def test_unreachable_server_is_one_line(tmp_path, capsys, monkeypatch):
    import tslib.data.landcover as lc

    monkeypatch.setattr(lc, "URL", "http://127.0.0.1:9/landcover.ai.v1.zip")  # the discard port: refused
    monkeypatch.setattr(lc.download_landcover, "__defaults__", (lc.URL, lc.MD5))
    assert main(["download", "--datasets", "landcover", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: downloading") and "again" in err, err
    assert not (tmp_path / "landcover").exists()
