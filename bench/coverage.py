"""Coverage latency benchmark: p50/p95 of ``compute_coverage`` and of rendering its JSON.

Builds a temporary SQLite instance with the fixture framework (53 leaf indicators, 229
catalog entries) and N documents (default 2,000) with links: most fill entries, some are on
indicators themselves, some link nowhere; statuses and review states are mixed. Pages are
not needed for coverage. With ``--findings`` each document also gets two pages of text
(1,500 characters) and the audit findings (MinHash/LSH near-duplicates included) are timed.

    .venv/bin/python bench/coverage.py
    .venv/bin/python bench/coverage.py --docs 2000 --runs 50 --findings
    .venv/bin/python bench/coverage.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from evidence_app.auth.users import create_user  # noqa: E402
from evidence_app.coverage.export import coverage_report  # noqa: E402
from evidence_app.coverage.findings import compute_findings  # noqa: E402
from evidence_app.coverage.next_steps import next_steps  # noqa: E402
from evidence_app.coverage.operations import compute_coverage  # noqa: E402
from evidence_app.frameworks.operations import import_framework_file  # noqa: E402
from storage import (  # noqa: E402
    Blob,
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentPage,
    DocumentVersion,
    Indicator,
    create_db_engine,
    make_session_factory,
    upgrade_database,
)

FIXTURE = ROOT.parent / "shared" / "fixtures" / "framework" / "A类规划自评打分表.docx"
STATUSES = ["indexed"] * 90 + ["pending"] * 3 + ["failed"] * 3 + ["empty"] * 2 + ["encrypted"] * 2
CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def build(engine, fixture: Path, docs: int, with_pages: bool, seed: int = 7) -> int:
    """The framework and ``docs`` document rows with versions and links; returns its id."""
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    with sessions() as s:
        framework_id = import_framework_file(s, fixture)["framework_id"]
        s.commit()
        entries = s.execute(
            select(CatalogEntry.id, CatalogEntry.code).where(
                CatalogEntry.framework_id == framework_id
            )
        ).all()
        leaves = s.execute(
            select(Indicator.id, Indicator.code).where(
                Indicator.framework_id == framework_id, Indicator.level == 3
            )
        ).all()
        blobs, document_rows, versions, links, pages = [], [], [], [], []
        for n in range(1, docs + 1):
            sha = f"{n:064x}"
            blobs.append({"sha256": sha, "size": 1000 + n})
            roll = rng.random()
            if roll < 0.9:
                target = rng.choice(entries)
                links.append({"document_id": n, "entry_id": target.id, "code": target.code})
                code = target.code
            elif roll < 0.97:
                target = rng.choice(leaves)
                links.append({"document_id": n, "indicator_id": target.id, "code": target.code})
                code = target.code
            else:
                code = "9.9.9-1"
            document_rows.append(
                {
                    "id": n,
                    "framework_id": framework_id,
                    "title": f"材料 {n}",
                    "code": code,
                    "file_type": "pdf",
                    "status": rng.choice(STATUSES),
                    "review_status": rng.choice(["pending", "approved", "needs_more"]),
                    "page_count": 2,
                    "deleted": rng.random() < 0.01,
                }
            )
            versions.append(
                {
                    "document_id": n,
                    "number": 1,
                    "blob_sha256": sha,
                    "original_name": f"{code} 材料 {n}.pdf",
                    "size": 1000 + n,
                }
            )
            if with_pages:
                body = "".join(rng.choice(CHARS) for _ in range(1500))
                pages.append({"document_id": n, "number": 1, "text": body[:750], "source": "text"})
                pages.append({"document_id": n, "number": 2, "text": body[750:], "source": "text"})
        s.execute(insert(Blob), blobs)
        s.execute(insert(Document), document_rows)
        s.execute(insert(DocumentVersion), versions)
        s.execute(insert(DocumentLink), links)
        if pages:
            s.execute(insert(DocumentPage), pages)
        s.commit()
    return framework_id


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{name:<34} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   ({len(ms)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--findings", action="store_true", help="Also time the audit findings.")
    parser.add_argument("--fixture", type=Path, default=FIXTURE, help="The framework table.")
    parser.add_argument(
        "--database", default=None, help="A database URL (default: temporary SQLite)."
    )
    args = parser.parse_args()
    if not args.fixture.exists():
        sys.exit(f"fixture not found: {args.fixture}")
    with tempfile.TemporaryDirectory(prefix="bench-coverage-") as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = create_db_engine(url)
        if args.database and engine.dialect.name == "postgresql":
            schema = f"bench_{int(time.time())}"
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine.dispose()
            sep = "&" if "?" in url else "?"
            engine = create_db_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
        else:
            schema = None
        try:
            started = time.perf_counter()
            framework_id = build(engine, args.fixture, args.docs, args.findings)
            print(
                f"built {engine.dialect.name}: fixture framework + {args.docs} documents "
                f"in {time.perf_counter() - started:.1f} s"
            )
            sessions = make_session_factory(engine)
            with sessions() as s:
                cov = compute_coverage(s, framework_id)
                summary = cov.summary()
                print(
                    f"entries {summary['entries']}, filled {summary['entries_filled']}, "
                    f"documents {summary['documents']}, JSON "
                    f"{len(json.dumps(cov.as_json(), ensure_ascii=False)) // 1024} KB"
                )
                report(
                    "compute_coverage", timed(lambda: compute_coverage(s, framework_id), args.runs)
                )
                report(
                    "render coverage JSON",
                    timed(lambda: json.dumps(cov.as_json(), ensure_ascii=False), args.runs),
                )
                # the home page's 下一步 for each role (a new user: responsible for nothing,
                # so staff get every missing entry)
                for role in ("admin", "staff", "reviewer", "auditor"):
                    user = create_user(s, f"bench-{role}", "bench-password-9", role)
                    s.flush()
                    report(
                        f"home 下一步 ({role})",
                        timed(lambda user=user: next_steps(s, user), args.runs),
                    )
                report(
                    "compute + render",
                    timed(
                        lambda: json.dumps(
                            compute_coverage(s, framework_id).as_json(), ensure_ascii=False
                        ),
                        args.runs,
                    ),
                )
                if args.findings:
                    runs = max(3, args.runs // 10)
                    report(
                        "findings (incl. near-duplicates)",
                        timed(lambda: compute_findings(s, framework_id, coverage=cov), runs),
                    )
                    report(
                        "coverage --json report",
                        timed(
                            lambda: json.dumps(
                                coverage_report(s, framework_id), ensure_ascii=False
                            ),
                            runs,
                        ),
                    )
        finally:
            engine.dispose()
            if schema:
                admin = create_db_engine(args.database)
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
