"""Upload bodies: a file over its limit is refused while it streams in (not after the whole
body was read), the production server refuses an over-limit request from its headers, and
part headers with raw GBK or Big5 file names are read, not dropped."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sql
from werkzeug.serving import make_server

from storage import Document

MB = 1024 * 1024


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the response headers: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _multipart_head(filename: bytes) -> bytes:
    return (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )


def _request_head(path: str, token: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
        f"Content-Type: multipart/form-data; boundary=BOUNDARY\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@contextmanager
def _serving(serve: Callable[[], object], stop: Callable[[], object]) -> Iterator[None]:
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(timeout=10)


def test_a_file_over_the_limit_is_refused_while_it_streams_in(
    app, runtime, make_user, token_for
) -> None:
    runtime.config.MAX_UPLOAD_BYTES = 1 * MB
    token = token_for(make_user("staff"))["Authorization"]
    declared = 300 * MB
    server = make_server("127.0.0.1", 0, app, threaded=True)
    with _serving(server.serve_forever, server.shutdown):
        sock = socket.create_connection(("127.0.0.1", server.server_port), timeout=30)
        with sock:
            sock.sendall(_request_head("/api/v1/documents", token, declared))
            sock.sendall(_multipart_head("2.3.4-1 大文件.bin".encode()))
            sent = 0
            chunk = b"\0" * (64 * 1024)
            sock.settimeout(5)
            while sent < 64 * MB:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    break  # the server stopped reading: its answer is waiting
                sent += len(chunk)
            sock.settimeout(30)
            status, _, body = _read_response(sock)
    assert status == 413
    report = json.loads(body)
    assert report["rejected"] == [{"name": "2.3.4-1 大文件.bin", "reason": report["error"]}]
    assert report["error"] == "文件超过上传上限（1 MB），未接收"
    # answered after about the limit (plus what the sockets' buffers took in), not after
    # the 300 MB the request declared
    assert sent < 64 * MB, sent
    server.server_close()
    with runtime.session() as s:
        assert s.scalar(sql.select(sql.func.count()).select_from(Document)) == 0
    assert list(runtime.blobs.iter()) == []


def test_the_production_server_refuses_an_over_limit_request_from_its_headers(
    tmp_path: Path,
) -> None:
    """`evidence serve` (waitress, which reads whole bodies before the app sees them) is
    given MAX_REQUEST_BYTES and answers 413 before a byte of the body is sent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "BLOB_"))}
    env.update(EVIDENCE_HOME=str(tmp_path), SECRET_KEY="t", MAX_REQUEST_BYTES=str(8 * MB))
    command = [sys.executable, "-m", "evidence_app.cli"]
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=120)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "evidence serve did not start"
                time.sleep(0.2)
        with sock:
            sock.sendall(_request_head("/api/v1/documents", "Bearer x", 300 * MB))
            status, _, _ = _read_response(sock)  # nothing of the body was sent
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert status == 413


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("gbk", "2.3.4-1 订单班学生名单.txt"), ("big5", "2.3.4-1 訂單班學生名單.txt")],
)
def test_raw_gbk_and_big5_file_names_in_a_multipart_upload(
    app, make_framework, make_user, token_for, encoding: str, name: str
) -> None:
    fid = make_framework()["framework_id"]
    body = (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="framework_id"\r\n\r\n'
        + str(fid).encode()
        + b"\r\n"
        + _multipart_head(name.encode(encoding))
        + "迅达电梯订单班 45 人".encode()
        + b"\r\n--BOUNDARY--\r\n"
    )
    response = app.test_client().post(
        "/api/v1/documents",
        headers=token_for(make_user("staff")),
        data=body,
        content_type="multipart/form-data; boundary=BOUNDARY",
    )
    assert response.status_code == 201, response.get_json()
    [doc] = response.get_json()["documents"]
    assert (doc["name"], doc["entry"]) == (name, "2.3.4-1")
