"""Load: concurrent uploaders and searchers against `evidence serve` + `evidence worker`.

    .venv/bin/python bench/load.py [--uploaders 20] [--searchers 50] [--seconds 60]
                                   [--database sqlite|postgres] [--max-requests 400]

Starts a server and a worker on 127.0.0.1 with a fresh instance (SQLite, or PostgreSQL from
EVIDENCE_TEST_POSTGRES_URL with --database postgres), imports the sample framework, then for
``--seconds`` (each client also bounded by ``--max-requests``) uploaders POST small evidence
files through the API and searchers query it. Afterwards it waits for the worker to drain
and checks: no 5xx, every accepted upload stored exactly once and indexed. Prints p50/p95
latencies per endpoint. Only loopback traffic.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERIES = [
    "订单班",
    "双师型",
    "产教融合",
    "现代学徒制 试点",
    "专业群",
    "1+X证书",
    '"实践教学"',
    "2.3.4-1",
    "电梯",
    "技能大赛",
]
CODES = ["2.3.4-1", "2.3.4-2", "2.5.2-1", "2.2.2-1", "1.1.1-1", "2.3.5-1", "3.1.1-1", "2.4.3-2"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict, *args: str, input: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "evidence_app.cli", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"evidence {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for field, filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.status: dict[int, int] = {}
        self.accepted: list[str] = []
        self.errors: list[str] = []

    def add(self, endpoint: str, ms: float, status: int) -> None:
        with self.lock:
            self.latency.setdefault(endpoint, []).append(ms)
            self.status[status] = self.status.get(status, 0) + 1


def request(
    port: int, method: str, path: str, headers: dict, body: bytes | None = None
) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def uploader(port: int, token: str, fw: int, stop: float, limit: int, stats: Stats, n: int) -> None:
    rng = random.Random(n)
    for i in range(limit):
        if time.time() >= stop:
            return
        marker = f"U{n:02d}N{i:04d}"
        code = rng.choice(CODES)
        text = f"{marker} 佐证材料 订单班 双师型 产教融合 第{i}份 {uuid.uuid4().hex}".encode()
        body, ctype = multipart(
            {"framework_id": str(fw)}, [("files", f"{code} {marker}.txt", text)]
        )
        try:
            status, data, ms = request(
                port,
                "POST",
                "/api/v1/documents",
                {"Authorization": f"Bearer {token}", "Content-Type": ctype},
                body,
            )
        except OSError as e:
            with stats.lock:
                stats.errors.append(f"upload: {e}")
            continue
        stats.add("POST /api/v1/documents", ms, status)
        if status == 201:
            with stats.lock:
                stats.accepted.append(marker)


def searcher(port: int, token: str, stop: float, limit: int, stats: Stats, n: int) -> None:
    rng = random.Random(1000 + n)
    from urllib.parse import quote

    for _ in range(limit):
        if time.time() >= stop:
            return
        q = quote(rng.choice(QUERIES))
        try:
            status, _, ms = request(
                port, "GET", f"/api/v1/search?q={q}&limit=10", {"Authorization": f"Bearer {token}"}
            )
        except OSError as e:
            with stats.lock:
                stats.errors.append(f"search: {e}")
            continue
        stats.add("GET /api/v1/search", ms, status)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploaders", type=int, default=20)
    parser.add_argument("--searchers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=400, help="per client")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--threads", type=int, default=16, help="server request threads")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="evidence-load-"))
    env = {**os.environ, "EVIDENCE_HOME": str(home), "SECRET_KEY": "load", "LOG_LEVEL": "WARNING"}
    if args.database == "postgres":
        url = (
            os.environ.get("EVIDENCE_TEST_POSTGRES_URL")
            or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        schema = "load_" + uuid.uuid4().hex[:8]
        import sqlalchemy

        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        env["DATABASE_URL"] = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    cli(env, "init")
    cli(
        env,
        "user",
        "add",
        "loader",
        "--role",
        "staff",
        "--password-stdin",
        input="load-test-pass\n",
    )
    token = cli(env, "token", "create", "loader").strip()
    from evidence_app.demo import SAMPLE_FRAMEWORK

    fw = json.loads(cli(env, "framework", "import", str(SAMPLE_FRAMEWORK), "--json"))[
        "framework_id"
    ]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evidence_app.cli",
            "serve",
            "--port",
            str(port),
            "--threads",
            str(args.threads),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "evidence_app.cli", "worker", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if request(port, "GET", "/healthz", {})[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        stats = Stats()
        stop = time.time() + args.seconds
        threads = [
            threading.Thread(
                target=uploader, args=(port, token, fw, stop, args.max_requests, stats, i)
            )
            for i in range(args.uploaders)
        ] + [
            threading.Thread(target=searcher, args=(port, token, stop, args.max_requests, stats, i))
            for i in range(args.searchers)
        ]
        started = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 120)
        elapsed = time.time() - started
        # wait for the worker to drain the queue (bounded)
        drain_deadline = time.time() + 600
        pending = None
        while time.time() < drain_deadline:
            import sqlalchemy

            from config import Config

            engine = sqlalchemy.create_engine(Config(env).DATABASE_URL)
            with engine.connect() as conn:
                pending = conn.execute(
                    sqlalchemy.text(
                        "SELECT count(*) FROM documents WHERE status IN ('pending','processing')"
                    )
                ).scalar()
                titles = [
                    r[0]
                    for r in conn.execute(
                        sqlalchemy.text("SELECT title FROM documents WHERE deleted = false")
                    )
                ]
                statuses = dict(
                    conn.execute(
                        sqlalchemy.text("SELECT status, count(*) FROM documents GROUP BY status")
                    ).all()
                )
            engine.dispose()
            if pending == 0:
                break
            time.sleep(1)
        verify = subprocess.run(
            [sys.executable, "-m", "evidence_app.cli", "verify", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        for proc in (server, worker):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    five_xx = sum(n for s, n in stats.status.items() if s >= 500)
    accepted = set(stats.accepted)
    stored = [t for t in titles if t.startswith("U")]
    lost = accepted - set(stored)
    duplicated = len(stored) - len(set(stored))
    print(
        f"load: {args.uploaders} uploaders + {args.searchers} searchers for {elapsed:.1f} s on 127.0.0.1 ({args.database})"
    )
    for endpoint, values in sorted(stats.latency.items()):
        print(
            f"  {endpoint:<26} n={len(values):5d}  p50 {pct(values, 50):7.1f} ms  p95 {pct(values, 95):7.1f} ms"
            f"  mean {statistics.fmean(values):7.1f} ms  ({len(values) / elapsed:.1f} req/s)"
        )
    print(
        f"  status codes: {dict(sorted(stats.status.items()))}; client errors: {len(stats.errors)}"
    )
    print(
        f"  5xx: {five_xx}; accepted uploads: {len(accepted)}; stored: {len(stored)}; lost: {len(lost)}; duplicated: {duplicated}"
    )
    print(f"  documents by status after drain: {statuses}; still pending: {pending}")
    print(f"  evidence verify: exit {verify.returncode}")
    ok = five_xx == 0 and not lost and duplicated == 0 and pending == 0 and verify.returncode == 0
    print("RESULT:", "ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
