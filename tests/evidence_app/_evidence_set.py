"""A generated evidence set on the fixture framework, with known holes (shared by the
coverage, findings and export tests; loaded by path, pytest does not collect it).

Rows are written through the models (blobs in the real blob store), so the statuses and
page sources are exactly what each test needs; ``test_findings`` also runs the same kinds
of files through the real ingestion.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from storage import (
    CatalogEntry,
    Indicator,
)
from tests.factories import add_document, worker_stopped

TODAY = date(2024, 6, 1)
# common characters, so that generated texts look like Chinese and share no 5-grams
POOL = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def random_text(seed: str, chars: int = 300) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(POOL) for _ in range(chars))


@dataclass
class EvidenceSet:
    framework_id: int
    docs: dict[str, int] = field(default_factory=dict)  # name -> document id

    def __getitem__(self, name: str) -> int:
        return self.docs[name]


def text_document(session, runtime, framework_id, name, text, **kw):
    return add_document(
        session, runtime, framework_id, name, text.encode(), pages=[(text, "text")], **kw
    )


# Entries left without usable evidence, and what they get instead.
HOLES = {
    "1.2.1-1": None,
    "1.2.1-2": None,
    "1.2.2-3": "corrupt",
    "1.2.2-4": None,
    "1.2.2-5": None,
    "1.2.3-1": "empty",
    "2.3.4-2": None,
    "2.3.4.4": None,
    "2.5.3-1": "pending",
    "2.5.4-1": "encrypted",
    "3.4.3-1": None,
    "3.4.3-2": None,
}
NEAR_DUPLICATES = ("2.5.1-1", "2.5.2-1")
SAME_BYTES = ("2.3.4-1", "3.1.1-1")


def build_evidence_set(session, runtime, framework_id: int, *, index: bool = False) -> EvidenceSet:
    """Fill every entry of the fixture framework with one text file, except HOLES; add
    reused, broken, unmatched, OCR-only and overdue cases. Commits; with ``index``, the
    search index follows the commit as usual."""
    ev = EvidenceSet(framework_id)
    indicators = {
        (i.code, i.variant): i
        for i in session.scalars(select(Indicator).where(Indicator.framework_id == framework_id))
    }
    entries = session.scalars(
        select(CatalogEntry)
        .where(CatalogEntry.framework_id == framework_id)
        .order_by(CatalogEntry.position)
    ).all()
    near = random_text("near-duplicate", 400)
    near_changed = near[:100] + "甲" + near[101:200] + "乙" + near[201:300] + "丙" + near[301:]
    for e in entries:
        key = f"{e.code}@{e.indicator.code}"
        hole = HOLES.get(e.code)
        name = f"{e.code} {e.title[:30]}"
        if e.code in HOLES and hole is None:
            continue
        if hole == "corrupt":
            doc = add_document(
                session,
                runtime,
                framework_id,
                name + ".pdf",
                b"%PDF-1.4\n%broken",
                entry=e,
                status="failed",
            )
        elif hole == "empty":
            doc = add_document(
                session,
                runtime,
                framework_id,
                name + ".pdf",
                b"%PDF-1.4\n%scan of nothing",
                entry=e,
                status="empty",
                pages=[("", "ocr")],
            )
        elif hole == "pending":
            doc = add_document(
                session,
                runtime,
                framework_id,
                name + ".txt",
                b"waiting",
                entry=e,
                status="pending",
            )
        elif hole == "encrypted":
            doc = add_document(
                session,
                runtime,
                framework_id,
                name + ".docx",
                b"PK\x03\x04locked",
                entry=e,
                status="encrypted",
            )
        elif e.code == SAME_BYTES[1]:
            text = random_text(SAME_BYTES[0])
            doc = text_document(session, runtime, framework_id, name + ".txt", text, entry=e)
        elif e.code == NEAR_DUPLICATES[0]:
            doc = text_document(session, runtime, framework_id, name + ".txt", near, entry=e)
        elif e.code == NEAR_DUPLICATES[1]:
            doc = text_document(
                session, runtime, framework_id, name + ".txt", near_changed, entry=e
            )
        elif e.code == "1.3.1-2":
            text = random_text(key)
            doc = add_document(
                session,
                runtime,
                framework_id,
                name + ".pdf",
                text.encode(),
                entry=e,
                pages=[(text[:150], "ocr"), (text[150:], "ocr")],
            )
        else:
            seed = SAME_BYTES[0] if e.code == SAME_BYTES[0] else key
            approved = e.indicator.code == "1.1.1" or e.code == "1.3.1-1"
            doc = text_document(
                session,
                runtime,
                framework_id,
                name + ".txt",
                random_text(seed),
                entry=e,
                review_status="approved" if approved else "pending",
            )
        ev.docs[key] = doc.id

    # a deleted file on a hole: ignored everywhere
    e = next(x for x in entries if x.code == "1.2.1-1")
    ev.docs["deleted"] = text_document(
        session,
        runtime,
        framework_id,
        "1.2.1-1 旧文件.txt",
        random_text("deleted"),
        entry=e,
        deleted=True,
    ).id
    # documents on indicators themselves
    ev.docs["4.2.2"] = text_document(
        session,
        runtime,
        framework_id,
        "4.2.2 信息化教学设备投入.txt",
        random_text("4.2.2"),
        indicator=indicators[("4.2.2", 0)],
    ).id
    ev.docs["3.4.3"] = text_document(
        session,
        runtime,
        framework_id,
        "3.4.3 湾区项目总结.txt",
        random_text("3.4.3"),
        indicator=indicators[("3.4.3", 0)],
    ).id
    # files linked to nothing
    ev.docs["unmatched-code"] = text_document(
        session,
        runtime,
        framework_id,
        "9.9.9-1 不存在的材料.txt",
        random_text("9.9.9-1"),
        code="9.9.9-1",
    ).id
    ev.docs["unmatched-nocode"] = text_document(
        session,
        runtime,
        framework_id,
        "说明.txt",
        random_text("说明"),
        code="",
    ).id
    # due dates (TODAY is 2024-06-01)
    e = next(x for x in entries if x.code == "1.2.2-4")
    e.due_date = date(2024, 1, 10)
    next(x for x in entries if x.code == "1.2.3-1").due_date = date(2024, 12, 31)
    indicators[("2.3.4", 0)].due_date = date(2024, 5, 1)
    indicators[("4.3.1", 0)].due_date = date(2024, 3, 1)
    indicators[("1.1.1", 0)].due_date = date(2024, 2, 1)  # complete: not overdue
    if index:
        with worker_stopped(runtime):  # the 'pending' document stays pending
            session.commit()
    else:
        # coverage, findings and exports read the database, not the search index: leave
        # the index out (writing 230 documents into Whoosh was 7 of the 8.6 s this takes)
        with runtime.follower.paused():
            session.commit()
    return ev
