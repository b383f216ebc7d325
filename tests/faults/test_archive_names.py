"""ZIP member names without the UTF-8 flag: the encoding is judged over all names of the
archive together, so Traditional Chinese Windows (Big5) names come out right, as do
Simplified Chinese (GBK) ones."""

from __future__ import annotations

import io
import zipfile

import pytest

from evidence_app.documents.archives import ArchiveLimits, open_archive

LIMITS = ArchiveLimits(
    max_total_bytes=10**8, max_members=100, max_ratio=200, max_member_bytes=10**8
)


def _zip(names: list[str], encoding: str) -> io.BytesIO:
    class LegacyName(zipfile.ZipInfo):
        def _encodeFilenameFlags(self):
            return self.filename.encode(encoding), self.flag_bits & ~0x800

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(LegacyName(name), "內容".encode())
    buf.seek(0)
    return buf


@pytest.mark.parametrize(
    ("names", "encoding"),
    [
        (
            [
                "2.3.4 企業訂單/2.3.4-1 企業訂單學生名冊.pdf",
                "2.3.5 現代學徒制/2.3.5-1 試點報告.docx",
                "說明.txt",
            ],
            "big5",
        ),
        (
            [
                "2.3.4 企业订单/2.3.4-1 企业订单学生名册.pdf",
                "2.3.5 现代学徒制/2.3.5-1 试点报告.docx",
                "说明.txt",
            ],
            "gbk",
        ),
        (["2.3.4-1 明细表.pdf", "说明.txt"], "utf-8"),
    ],
)
def test_legacy_member_names_decode(names: list[str], encoding: str) -> None:
    archive, members = open_archive(_zip(names, encoding), LIMITS)
    with archive:
        assert all(not (m.info.flag_bits & 0x800) for m in members)
        assert [m.name for m in members] == names
