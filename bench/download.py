"""Download cost: streaming a stored file through the SHA-256 check, throughput and memory.

    .venv/bin/python bench/download.py [--mb 200] [--runs 3]

Stores a file of ``--mb`` MB of random bytes in a fresh local instance, then downloads it
through the app (``GET /api/v1/documents/{id}/download`` with the Flask test client,
iterating the streamed body in the chunks a WSGI server would send) ``--runs`` times, and
prints MB/s and the process's peak RSS growth. For comparison it reads the same blob file
plainly and hashes it (what the check costs at best). The upload limit is raised for the run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from storage import Framework, upgrade_database
    from tests import factories

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        app = create_app(
            TestConfig(home / "instance", MAX_UPLOAD_BYTES=(args.mb + 1) * MB, OCR_ENABLED=False)
        )
        runtime = get_runtime(app)
        upgrade_database(runtime.engine)
        admin = factories.make_user(runtime, "admin")
        headers = factories.bearer_header(runtime, admin)
        data = os.urandom(args.mb * MB)
        with factories.worker_stopped(runtime), runtime.unit_of_work() as s:
            framework = Framework(name="基准")
            s.add(framework)
            s.flush()
            doc = factories.add_document(
                s, runtime, framework.id, "大文件.bin", data, status="unsupported"
            )
            doc_id = doc.id
        sha = hashlib.sha256(data).hexdigest()
        blob_path = runtime.blobs.path_for(sha)
        del data
        before = peak_mb()

        client = app.test_client()
        rates = []
        for _ in range(args.runs):
            start = time.perf_counter()
            response = client.get(f"/api/v1/documents/{doc_id}/download", headers=headers)
            size = sum(len(chunk) for chunk in response.response)
            response.close()
            elapsed = time.perf_counter() - start
            assert size == args.mb * MB, size
            rates.append(args.mb / elapsed)
        grown = peak_mb() - before

        plain = []
        for _ in range(args.runs):
            start = time.perf_counter()
            digest = hashlib.sha256()
            with open(blob_path, "rb") as f:
                while chunk := f.read(MB):
                    digest.update(chunk)
            plain.append(args.mb / (time.perf_counter() - start))
        runtime.close()

    print(f"file: {args.mb} MB, runs: {args.runs}")
    print(f"download through the hash check: {statistics.median(rates):.0f} MB/s (median)")
    print(f"plain read + SHA-256 of the blob:  {statistics.median(plain):.0f} MB/s (median)")
    print(f"peak RSS growth during the downloads: {grown:.0f} MB")


if __name__ == "__main__":
    main()
