"""campaigns.sources against real components: files on disk, a real S3-compatible server
(moto's, on localhost) and a real HTTP server in a thread. Nothing is mocked."""

from __future__ import annotations

import os
import pickle
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from campaigns.settings import Settings
from campaigns.sources import SourceError, describe_source, fetch_source
from tests.s3 import aws_env, bucket, moto_endpoint  # noqa: F401 (fixtures)

SECRET = "Bearer s3cr3t-t0ken-value"
API_KEY = "k-9f8e7d6c5b4a"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings():
    return Settings().with_(max_file_bytes=256 * 1024, http_timeout=2.0, http_connect_timeout=2.0)


@pytest.fixture
def workdir(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


# --- local files ---------------------------------------------------------------------------


def test_a_plain_path_is_read_where_it_is(tmp_path, settings, workdir):
    file = tmp_path / "list.csv"
    file.write_text("phone\n77011234567\n")
    with fetch_source(str(file), settings, workdir=workdir) as fetched:
        assert fetched.path == file
        assert (fetched.name, fetched.size) == ("list.csv", file.stat().st_size)
    assert file.exists() and list(workdir.iterdir()) == []  # not copied, not removed


def test_a_relative_path_is_made_absolute(tmp_path, settings, workdir, monkeypatch):
    (tmp_path / "a.csv").write_text("phone\n")
    monkeypatch.chdir(tmp_path)
    with fetch_source("./a.csv", settings, workdir=workdir) as fetched:
        assert fetched.path == tmp_path / "a.csv"
        assert fetched.path.is_absolute()


def test_a_file_url_is_percent_decoded(tmp_path, settings, workdir):
    folder = tmp_path / "in box"
    folder.mkdir()
    file = folder / "my list #1.csv"
    file.write_text("phone\n")
    url = "file://" + quote(str(file))
    assert "%20" in url and "%23" in url
    with fetch_source(url, settings, workdir=workdir) as fetched:
        assert fetched.path == file
        assert fetched.name == "my list #1.csv"


def test_a_folder_is_refused(tmp_path, settings, workdir):
    with pytest.raises(SourceError, match="is a folder") as caught:
        with fetch_source(str(tmp_path), settings, workdir=workdir):
            pass
    assert caught.value.temporary is False
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("form", ["path", "url"])
def test_a_missing_file_is_refused_naming_it(tmp_path, settings, workdir, form):
    missing = tmp_path / "nope.csv"
    source = str(missing) if form == "path" else missing.as_uri()
    with pytest.raises(SourceError, match="no such file") as caught:
        with fetch_source(source, settings, workdir=workdir):
            pass
    assert str(caught.value).startswith(describe_source(source) + ": ")
    assert caught.value.temporary is False


def test_an_unreadable_file_is_refused(tmp_path, settings, workdir):
    file = tmp_path / "secret.csv"
    file.write_text("phone\n")
    file.chmod(0)
    try:
        open(file, "rb").close()
    except PermissionError:
        source = str(file)
    else:
        # root reads any file whatever its mode; a write-only sysctl refuses even root
        source = "/proc/sys/vm/compact_memory"
        assert os.path.exists(source), "no file unreadable to this user to test with"
    with pytest.raises(SourceError, match="not readable") as caught:
        with fetch_source(source, settings, workdir=workdir):
            pass
    assert caught.value.temporary is False


def test_a_file_url_on_another_host_and_an_unknown_scheme_are_refused(settings, workdir):
    with pytest.raises(SourceError, match="another host"):
        with fetch_source("file://fileserver/srv/a.csv", settings, workdir=workdir):
            pass
    with pytest.raises(SourceError, match="unknown scheme 'ftp'") as caught:
        with fetch_source("ftp://user:hunter22@files.example/a.csv", settings, workdir=workdir):
            pass
    assert "hunter22" not in str(caught.value) and "user" not in str(caught.value)


# --- describing, the error itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("/srv/in/a.csv", "/srv/in/a.csv"),
        ("s3://bucket/in/a.csv", "s3://bucket/in/a.csv"),
        (
            "https://user:pa55word@files.example/x/a.csv?X-Amz-Signature=abc#top",
            "https://files.example/x/a.csv?…",
        ),
        ("http://127.0.0.1:8080/a.csv", "http://127.0.0.1:8080/a.csv"),
        ("/srv/in/a\nforged log line.csv", "/srv/in/a forged log line.csv"),
        ("https://[bad", "https:…"),
    ],
)
def test_describe_source_keeps_no_secret(source, shown):
    assert describe_source(source) == shown


def test_a_source_error_survives_pickling():
    error = SourceError("s3://b/k", "S3 timed out", temporary=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.source, copy.reason) == (str(error), "s3://b/k", "S3 timed out")
    assert copy.temporary is True
    assert isinstance(copy, ValueError)


# --- S3 (a real S3-compatible server) --------------------------------------------------------


def test_one_s3_object_is_downloaded_into_the_workdir_and_removed_after(bucket, settings, workdir):
    name, client = bucket
    body = b"phone\n77011234567\n" * 100
    client.put_object(Bucket=name, Key="march/list v2.xlsx", Body=body)
    with fetch_source(f"s3://{name}/march/list v2.xlsx", settings, workdir=workdir) as fetched:
        assert fetched.path.parent == workdir
        assert fetched.path.suffix == ".xlsx"  # calamine reads a workbook by its extension
        assert fetched.path.read_bytes() == body
        assert (fetched.name, fetched.size) == ("list v2.xlsx", len(body))
        assert fetched.origin == f"s3://{name}/march/list v2.xlsx"
    assert list(workdir.iterdir()) == []


def test_a_prefix_gives_its_newest_file_skipping_folders_and_unfinished_uploads(bucket, settings, workdir):
    name, client = bucket
    # Given an older file, then a newer one whose name sorts first
    client.put_object(Bucket=name, Key="drop/b-old.csv", Body=b"old")
    client.put_object(Bucket=name, Key="elsewhere/z.csv", Body=b"not under the prefix")
    time.sleep(1.1)  # S3 keeps LastModified to the second
    client.put_object(Bucket=name, Key="drop/a-new.csv", Body=b"new")
    time.sleep(1.1)
    # and, newer still, only names that must be skipped
    for key in ("drop/", "drop/sub/", "drop/.hidden.csv", "drop/~$open.xlsx", "drop/c.csv.part",
                "drop/d.TMP", "drop/e.csv.crdownload", "drop/.staging/f.csv"):
        client.put_object(Bucket=name, Key=key, Body=b"skip me")
    # When the prefix is fetched
    with fetch_source(f"s3://{name}/drop/", settings, workdir=workdir) as fetched:
        # Then the newest real file is read
        assert fetched.path.read_bytes() == b"new"
        assert fetched.name == "a-new.csv"
        assert fetched.origin == f"s3://{name}/drop/a-new.csv"


def test_an_empty_prefix_is_refused(bucket, settings, workdir):
    name, client = bucket
    client.put_object(Bucket=name, Key="drop/", Body=b"")
    client.put_object(Bucket=name, Key="drop/.x.csv", Body=b"x")
    with pytest.raises(SourceError, match="no file under the prefix 'drop/'") as caught:
        with fetch_source(f"s3://{name}/drop/", settings, workdir=workdir):
            pass
    assert caught.value.temporary is False
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("key", ["a.csv", "drop/"])
def test_a_missing_bucket_is_refused(aws_env, settings, workdir, key):
    source = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/{key}"
    with pytest.raises(SourceError, match="bucket 'no-such-bucket-.*' not found") as caught:
        with fetch_source(source, settings, workdir=workdir):
            pass
    assert str(caught.value).startswith(source + ": ")
    assert caught.value.temporary is False


def test_a_missing_key_is_refused(bucket, settings, workdir):
    name, _ = bucket
    with pytest.raises(SourceError, match=f"no object 'a.csv' in bucket '{name}'") as caught:
        with fetch_source(f"s3://{name}/a.csv", settings, workdir=workdir):
            pass
    assert caught.value.temporary is False


def test_an_object_over_the_limit_is_refused_before_downloading(bucket, settings, workdir):
    name, client = bucket
    client.put_object(Bucket=name, Key="big.csv", Body=b"x" * (settings.max_file_bytes + 1))
    with pytest.raises(SourceError, match="more than the 256.0 KiB limit"):
        with fetch_source(f"s3://{name}/big.csv", settings, workdir=workdir):
            pass
    assert list(workdir.iterdir()) == []


def test_the_s3_specific_endpoint_variable_wins(bucket, settings, workdir, moto_endpoint, aws_env):
    name, client = bucket
    client.put_object(Bucket=name, Key="a.csv", Body=b"phone\n")
    aws_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens
    aws_env.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    with fetch_source(f"s3://{name}/a.csv", settings, workdir=workdir) as fetched:
        assert fetched.path.read_bytes() == b"phone\n"


def test_an_unreachable_endpoint_is_temporary(aws_env, settings, workdir):
    aws_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    aws_env.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SourceError, match="network failure talking to S3") as caught:
        with fetch_source("s3://bucket/a.csv", settings, workdir=workdir):
            pass
    assert caught.value.temporary is True


def test_missing_credentials_are_refused(aws_env, settings, workdir):
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SourceError, match="no AWS credentials") as caught:
        with fetch_source("s3://bucket/a.csv", settings, workdir=workdir):
            pass
    assert caught.value.temporary is False


# --- HTTP (a real server in a thread) ------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.headers: dict[str, dict[str, str]] = {}
        self.stream_sent = 0
        self.stream_done = threading.Event()


def _handler(recorder: _Recorder, other_origin: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def _reply(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            recorder.headers[path] = {k.lower(): v for k, v in self.headers.items()}
            if path == "/files/list%20one.csv":
                self._reply(200, b"phone\n77011234567\n")
            elif path == "/missing.csv":
                self._reply(404, b"not here")
            elif path == "/forbidden.csv":
                self._reply(403, b"no")
            elif path == "/broken.csv":
                self._reply(500, b"oops")
            elif path == "/announced-big.csv":
                self.send_response(200)
                self.send_header("Content-Length", str(10 * 1024 * 1024))
                self.end_headers()
                self.close_connection = True
            elif path == "/endless.csv":
                self._endless()
            elif path == "/slow.csv":
                time.sleep(3)
                self._reply(200, b"late")
            elif path == "/away.csv":
                self._reply(302, Location=f"{other_origin}/landing.csv")
            elif path == "/landing.csv":
                self._reply(200, b"phone\n")
            else:
                self._reply(404)

        def _endless(self) -> None:
            # chunked, no Content-Length: only counting while reading can stop it
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"77011234567\n" * 5000
            try:
                for _ in range(20_000):  # about 1.2 GB if nobody stops reading
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    recorder.stream_sent += len(chunk)
            except OSError:
                pass
            finally:
                self.close_connection = True
                recorder.stream_done.set()

    return Handler


@pytest.fixture
def web():
    recorder = _Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    port = server.server_address[1]
    # "localhost" is another origin than "127.0.0.1" on the same server
    server.RequestHandlerClass = _handler(recorder, f"http://localhost:{port}")
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", recorder
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_url_is_streamed_with_its_headers_and_removed_after(web, settings, workdir):
    base, recorder = web
    headers = {"Authorization": SECRET, "X-Api-Key": API_KEY}
    source = f"{base}/files/list%20one.csv?token=abc"
    with fetch_source(source, settings, workdir=workdir, headers=headers) as fetched:
        assert fetched.path.read_bytes() == b"phone\n77011234567\n"
        assert (fetched.name, fetched.size) == ("list one.csv", 18)
        assert fetched.path.parent == workdir and fetched.path.suffix == ".csv"
        assert fetched.origin == f"{base}/files/list%20one.csv?…"
    assert list(workdir.iterdir()) == []
    sent = recorder.headers["/files/list%20one.csv"]
    assert (sent["authorization"], sent["x-api-key"]) == (SECRET, API_KEY)


@pytest.mark.parametrize(
    ("path", "reason", "temporary"),
    [
        ("/missing.csv", "not found (HTTP 404 Not Found)", False),
        ("/forbidden.csv", "access denied (HTTP 403 Forbidden)", False),
        ("/broken.csv", "server failed (HTTP 500 Internal Server Error); temporary", True),
    ],
)
def test_http_statuses_map_to_errors_without_leaking_headers(web, settings, workdir, path, reason, temporary):
    base, recorder = web
    headers = {"Authorization": SECRET, "X-Api-Key": API_KEY}
    source = f"http://user:pa55word@127.0.0.1:{base.rsplit(':', 1)[1]}{path}?sig=abc"
    with pytest.raises(SourceError) as caught:
        with fetch_source(source, settings, workdir=workdir, headers=headers):
            pass
    message = str(caught.value)
    assert message.startswith(f"{base}{path}?…: {reason}")
    assert caught.value.temporary is temporary
    for secret in ("s3cr3t", API_KEY, "pa55word", "sig=abc"):
        assert secret not in message and secret not in repr(caught.value)
    assert recorder.headers[path]["x-api-key"] == API_KEY  # they were sent, just never shown
    assert list(workdir.iterdir()) == []


def test_a_body_over_the_limit_is_refused_while_streaming(web, settings, workdir):
    base, recorder = web
    with pytest.raises(SourceError, match="more than the 256.0 KiB limit") as caught:
        with fetch_source(f"{base}/endless.csv", settings, workdir=workdir):
            pass
    assert caught.value.temporary is False
    assert list(workdir.iterdir()) == []  # the partial download is gone
    # the client hung up: the server stopped long before the ~1.2 GB it would have sent
    assert recorder.stream_done.wait(10)
    assert recorder.stream_sent < 64 * 1024 * 1024


def test_an_announced_size_over_the_limit_is_refused_before_the_body(web, settings, workdir):
    base, _ = web
    with pytest.raises(SourceError, match="the file is 10.0 MiB, more than the 256.0 KiB limit"):
        with fetch_source(f"{base}/announced-big.csv", settings, workdir=workdir):
            pass
    assert list(workdir.iterdir()) == []


def test_a_redirect_to_another_origin_gets_none_of_the_headers(web, settings, workdir):
    base, recorder = web
    headers = {"Authorization": SECRET, "X-Api-Key": API_KEY}
    with fetch_source(f"{base}/away.csv", settings, workdir=workdir, headers=headers) as fetched:
        assert fetched.path.read_bytes() == b"phone\n"
        assert fetched.name == "away.csv"  # the name asked for, not where it landed
    assert recorder.headers["/away.csv"]["x-api-key"] == API_KEY
    landed = recorder.headers["/landing.csv"]
    assert "authorization" not in landed and "x-api-key" not in landed


def test_a_slow_server_is_a_temporary_timeout(web, settings, workdir):
    base, _ = web
    with pytest.raises(SourceError, match="timed out") as caught:
        with fetch_source(f"{base}/slow.csv", settings.with_(http_timeout=0.3), workdir=workdir):
            pass
    assert caught.value.temporary is True


def test_a_refused_connection_is_temporary(settings, workdir):
    source = f"http://127.0.0.1:{_free_port()}/a.csv"
    with pytest.raises(SourceError, match="network failure") as caught:
        with fetch_source(source, settings, workdir=workdir, headers={"Authorization": SECRET}):
            pass
    assert caught.value.temporary is True
    assert "s3cr3t" not in str(caught.value)


def test_a_malformed_url_is_refused(settings, workdir):
    for source in ("https://[::1/a.csv", "https://files.example:port/a.csv"):
        with pytest.raises(SourceError, match="not a valid URL"):
            with fetch_source(source, settings, workdir=workdir):
                pass


def test_plain_http_is_refused_beyond_this_machine(settings, workdir):
    # refused before any connection is made: no network needed
    with pytest.raises(SourceError, match="plain http is refused for files.example") as caught:
        source = "http://files.example/a.csv"
        with fetch_source(source, settings, workdir=workdir, headers={"Authorization": SECRET}):
            pass
    assert caught.value.temporary is False
    assert "s3cr3t" not in str(caught.value)


def test_an_invalid_header_value_is_refused_without_showing_it(web, settings, workdir):
    base, _ = web
    with pytest.raises(SourceError) as caught:
        with fetch_source(f"{base}/files/list%20one.csv", settings, workdir=workdir,
                          headers={"Authorization": "Bearer s3cr3t\nX-Injected: 1"}):
            pass
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.temporary is False
