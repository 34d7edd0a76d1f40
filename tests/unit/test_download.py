"""Downloading catalogue datasets from a local HTTP server: mirror, Range resumption, checksums, offline.

A ``http.server`` on 127.0.0.1 serves the read-only real datasets (never the
internet); downloads go to ``tmp_path`` through ``$SHENDU_DATA``. Its handler
can cut a transfer half-way, flip a byte, answer 404 or ignore Range headers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
import urllib.request
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shendu.data.catalog import CATALOG, DatasetEntry, locate
from shendu.data.download import DataFile, Progress, file_digest, urls_for, verify_file
from shendu.errors import DataError

# Catalogue name -> folder of /work/shared/data holding its files.
SHARED_FOLDERS = {"airline-passengers": "timeseries", "tinyshakespeare": "tinyshakespeare", "mq-rank": "ranking",
                  "scene": "multilabel", "yeast": "multilabel"}


@dataclass
class ServerState:
    roots: dict[str, Path]
    cut: set[str] = field(default_factory=set)  # URL paths whose next transfer stops half-way
    corrupt: set[str] = field(default_factory=set)  # URL paths served with one byte flipped
    missing: set[str] = field(default_factory=set)  # URL paths answered with 404
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        ranged = self.headers.get("Range")
        state.requests.append((self.path, ranged))
        dataset, _, relative = self.path.lstrip("/").partition("/")
        file = state.roots[dataset] / relative if dataset in state.roots else None
        if self.path in state.missing or file is None or not file.is_file():
            self.send_error(404, "Not Found")
            return
        data = bytearray(file.read_bytes())
        if self.path in state.corrupt:
            data[len(data) // 3] ^= 0xFF
        start = int(ranged.split("=")[1].split("-")[0]) if ranged and not state.ignore_range else 0
        if start and start >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = bytes(data[start:])
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in state.cut:  # promise the whole body, send half, hang up
            state.cut.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(data_root, tmp_path, monkeypatch):
    """A local mirror of the real datasets, with downloads going to tmp_path/store."""
    state = ServerState({name: data_root / folder for name, folder in SHARED_FOLDERS.items()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "store"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHENDU_DATASET_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/")
    yield state
    httpd.shutdown()
    httpd.server_close()


def shared(data_root: Path, name: str, relative: str) -> bytes:
    return (data_root / SHARED_FOLDERS[name] / relative).read_bytes()


# -- the download path -----------------------------------------------------------------------------
def test_download_through_the_mirror_verifies_and_reports_progress(server, data_root, tmp_path, capsys):
    folder = locate("airline-passengers")
    assert folder == tmp_path / "store" / "airline-passengers"
    assert (folder / "airline-passengers.csv").read_bytes() == shared(data_root, "airline-passengers", "airline-passengers.csv")
    assert sorted(p.name for p in folder.iterdir()) == ["airline-passengers.csv"]  # no .part left
    assert server.requests == [("/airline-passengers/airline-passengers.csv", None)]
    err = capsys.readouterr().err
    assert "Downloading dataset 'airline-passengers'" in err and "100%" in err and "/s)" in err
    assert locate("airline-passengers") == folder and len(server.requests) == 1  # found, not fetched again


def test_a_cut_transfer_resumes_with_a_range_request(server, data_root):
    expected = shared(data_root, "tinyshakespeare", "input.txt")
    server.cut.add("/tinyshakespeare/input.txt")
    folder = locate("tinyshakespeare")
    assert (folder / "input.txt").read_bytes() == expected
    assert server.requests == [("/tinyshakespeare/input.txt", None),
                               ("/tinyshakespeare/input.txt", f"bytes={len(expected) // 2}-")]


def test_a_partial_file_left_by_an_earlier_run_is_resumed(server, data_root, tmp_path):
    expected = shared(data_root, "mq-rank", "rank.train")
    folder = tmp_path / "store" / "mq-rank"
    folder.mkdir(parents=True)
    (folder / "rank.train.part").write_bytes(expected[:100_000])
    assert locate("mq-rank") == folder
    assert (folder / "rank.train").read_bytes() == expected and not (folder / "rank.train.part").exists()
    assert ("/mq-rank/rank.train", "bytes=100000-") in server.requests
    assert {name for name, _ in server.requests} == {f"/mq-rank/{spec.path}" for spec in CATALOG["mq-rank"].files}


def test_a_complete_part_file_is_verified_and_moved_into_place(server, data_root, tmp_path):
    folder = tmp_path / "store" / "yeast"
    folder.mkdir(parents=True)
    (folder / "Yeast.arff.bz2.part").write_bytes(shared(data_root, "yeast", "Yeast.arff.bz2"))
    locate("yeast")  # the server answers 416 to a Range past the end
    assert file_digest(folder / "Yeast.arff.bz2") == CATALOG["yeast"].files[0].checksum.split(":")[1]


def test_a_server_that_ignores_range_restarts_the_file(server, data_root, tmp_path):
    server.ignore_range = True
    folder = tmp_path / "store" / "yeast"
    folder.mkdir(parents=True)
    (folder / "Yeast.arff.bz2.part").write_bytes(b"stale bytes from some other file")
    locate("yeast")
    assert (folder / "Yeast.arff.bz2").read_bytes() == shared(data_root, "yeast", "Yeast.arff.bz2")


def test_a_corrupt_download_is_deleted_and_both_digests_are_named(server, data_root, tmp_path):
    server.corrupt.add("/yeast/Yeast.arff.bz2")
    bad = bytearray(shared(data_root, "yeast", "Yeast.arff.bz2"))
    bad[len(bad) // 3] ^= 0xFF
    with pytest.raises(DataError) as caught:
        locate("yeast")
    message = str(caught.value)
    assert CATALOG["yeast"].files[0].checksum.split(":")[1] in message
    assert hashlib.sha256(bytes(bad)).hexdigest() in message and "deleted" in message
    assert not (tmp_path / "store" / "yeast").exists()  # neither the file, its .part, nor an empty folder


def test_http_404_names_the_url_and_writes_nothing(server, tmp_path):
    server.missing.add("/scene/Scene.arff.bz2")
    with pytest.raises(DataError) as caught:
        locate("scene")
    message = str(caught.value)
    assert "/scene/Scene.arff.bz2: HTTP 404" in message
    assert str(tmp_path / "store" / "scene" / "Scene.arff.bz2") in message
    assert not (tmp_path / "store" / "scene").exists()


def test_connection_refused_lists_each_file_and_its_destination(data_root, tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "store"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHENDU_DATASET_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(DataError) as caught:
        locate("mq-rank")
    message = str(caught.value)
    assert "cannot be reached" in message and "refused" in message.lower()
    for spec in CATALOG["mq-rank"].files:
        assert str(tmp_path / "store" / "mq-rank" / spec.path) in message
        assert f"http://127.0.0.1:{port}/mq-rank/{spec.path}" in message
    assert str(tmp_path / "home" / ".cache" / "shendu" / "mq-rank") in message  # where it looked


def test_download_false_lists_the_files_without_touching_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "store"))
    monkeypatch.delenv("SHENDU_DATASET_MIRROR", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("no request may be made"))
    with pytest.raises(DataError) as caught:
        locate("tinyshakespeare", download=False)
    message = str(caught.value)
    assert "data.download is false" in message
    assert str(tmp_path / "store" / "tinyshakespeare" / "input.txt") in message
    assert CATALOG["tinyshakespeare"].files[0].urls[0] in message


# -- archives and unverified files --------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_archive_is_verified_unpacked_and_deleted(server, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    digest = _zip(served / "bundle.zip", {"bundle/train/ants/a.txt": b"ant", "bundle/val/bees/b.txt": b"bee"})
    server.roots["tiny"] = served
    spec = DataFile("bundle.zip", f"sha256:{digest}", ("https://example.invalid/bundle.zip",),
                    extract_prefix="bundle/", provides=("train", "val"))
    entry = DatasetEntry("tiny", "A tiny archive.", "image", ("classification",), reader="image-folder", files=(spec,))
    folder = locate(entry)
    assert (folder / "train" / "ants" / "a.txt").read_bytes() == b"ant" and (folder / "val" / "bees" / "b.txt").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["train", "val"]  # zip deleted, no staging left


def test_an_archive_escaping_its_folder_is_refused(server, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    digest = _zip(served / "evil.zip", {"bundle/train/a.txt": b"x", "bundle/../../escaped.txt": b"x"})
    server.roots["evil"] = served
    spec = DataFile("evil.zip", f"sha256:{digest}", ("https://example.invalid/evil.zip",),
                    extract_prefix="bundle/", provides=("train",))
    with pytest.raises(DataError, match="outside its folder"):
        locate(DatasetEntry("evil", "An evil archive.", "image", ("classification",), files=(spec,)))
    assert not list(tmp_path.rglob("escaped.txt")) and not (tmp_path / "store" / "evil" / "train").exists()


def test_a_file_without_a_checksum_downloads_with_a_warning_giving_its_sha256(server, data_root):
    spec = DataFile("airline-passengers.csv", None, ("https://example.invalid/a.csv",))
    entry = DatasetEntry("airline-passengers", "Unverified.", "tabular", ("regression",), files=(spec,))
    with pytest.warns(UserWarning, match=hashlib.sha256(shared(data_root, "airline-passengers", "airline-passengers.csv")).hexdigest()):
        locate(entry)


# -- pieces ------------------------------------------------------------------------------------------
def test_the_mirror_maps_each_file_to_dataset_and_relative_path(monkeypatch):
    spec = DataFile("train/image/0.png", "sha256:00", ("https://official/0.png",))
    monkeypatch.delenv("SHENDU_DATASET_MIRROR", raising=False)
    assert urls_for(spec, "isbi-membrane") == ("https://official/0.png",)
    monkeypatch.setenv("SHENDU_DATASET_MIRROR", "http://proxy:8080/data/")
    assert urls_for(spec, "isbi-membrane") == ("http://proxy:8080/data/isbi-membrane/train/image/0.png",)


def test_md5_and_gunzipped_checksums_match_hashlib(data_root, tmp_path):
    gz = data_root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress(gz.read_bytes())
    assert file_digest(gz, "md5") == hashlib.md5(gz.read_bytes()).hexdigest()
    assert file_digest(gz, "sha256", gunzipped=True) == hashlib.sha256(content).hexdigest()
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(content)
    spec = next(s for s in CATALOG["mnist"].files if s.path == gz.name)
    assert verify_file(spec, gz) is None and verify_file(spec, plain) is None  # gzip or not, same content
    plain.write_bytes(content[:-1] + b"\x07")
    assert "expected sha256" in verify_file(spec, plain)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_line_per_tenth_off_a_terminal_and_a_bar_on_one():
    plain = io.StringIO()
    progress = Progress("f.bin", total=1000, stream=plain)
    for _ in range(20):
        progress.update(50)
    progress.close()
    lines = plain.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [f"{p}%" for p in range(10, 101, 10)]
    assert all("of 1.0 kB" in line and "/s)" in line for line in lines)
    terminal = _Terminal()
    progress = Progress("f.bin", total=1000, stream=terminal)
    progress.update(500)
    progress.update(500)  # within 0.1 s of the last draw: not redrawn until close
    progress.close()
    text = terminal.getvalue()
    assert text.startswith("\r[############............] f.bin:  50%") and text.count("\r") == 2
    assert text.endswith("f.bin: 100% 1.0 kB of 1.0 kB (" + text.rsplit("(", 1)[1]) and text.endswith("/s)\033[K\n")
