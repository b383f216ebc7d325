"""A ZIP inside a ZIP: one level is unpacked (members named outer/inner.zip/file), within
the same bomb limits counted across both levels; deeper nesting and a broken inner ZIP
refuse the archive once, with one reason."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from evidence_app.documents.archives import ArchiveLimits, ArchiveRefusedError, open_archive
from storage import Document


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _upload(app, headers, fid: int, data: bytes, name: str):
    return app.test_client().post(
        "/api/v1/documents",
        headers=headers,
        data={"framework_id": str(fid), "files": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_a_zip_in_a_zip_is_unpacked_one_level(
    app, runtime, make_framework, make_user, token_for
) -> None:
    fid = make_framework()["framework_id"]
    inner = _zip({"2.3.4-1 名单.txt": "迅达电梯订单班学生名单".encode()})
    outer = _zip(
        {
            "材料/2.3.4 企业订单.zip": inner,
            "材料/2.3.4-2 办法.txt": "订单班建设管理办法全文".encode(),
        }
    )
    response = _upload(app, token_for(make_user("staff")), fid, outer, "全部材料.zip")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["rejected"] == []
    assert sorted((d["name"], d["entry"]) for d in body["documents"]) == [
        ("2.3.4-1 名单.txt", "2.3.4-1"),
        ("2.3.4-2 办法.txt", "2.3.4-2"),
    ]
    with runtime.session() as s:
        rows = {d.source_path: d.status for d in s.query(Document)}
    # the inner ZIP is a folder in the path, not a document of its own
    assert rows == {
        "材料/2.3.4 企业订单.zip/2.3.4-1 名单.txt": "indexed",
        "材料/2.3.4-2 办法.txt": "indexed",
    }


def test_a_zip_nested_twice_is_refused_once_with_one_reason(
    app, runtime, make_framework, make_user, token_for
) -> None:
    fid = make_framework()["framework_id"]
    deepest = _zip({"2.3.4-1 名单.txt": b"x"})
    middle = _zip({"b.zip": deepest})
    outer = _zip({"a.zip": middle, "2.3.4-2 办法.txt": "办法".encode()})
    response = _upload(app, token_for(make_user("staff")), fid, outer, "套娃.zip")
    body = response.get_json()
    assert response.status_code == 400, body
    assert body["documents"] == []
    assert len(body["rejected"]) == 1
    assert body["rejected"][0]["name"] == "套娃.zip"
    assert "a.zip/b.zip" in body["rejected"][0]["reason"]
    assert "只展开一层" in body["rejected"][0]["reason"]
    assert list(runtime.blobs.iter()) == []


def test_a_broken_inner_zip_refuses_the_archive_naming_it() -> None:
    broken = b"PK\x03\x04" + b"\x00" * 60
    outer = _zip({"2.3.4-2 办法.txt": b"text", "sub/inner.zip": broken}, zipfile.ZIP_STORED)
    with pytest.raises(ArchiveRefusedError, match="sub/inner.zip.*已损坏"):
        open_archive(io.BytesIO(outer), ArchiveLimits())


def test_a_file_named_zip_that_is_not_one_stays_a_file() -> None:
    outer = _zip({"notes.zip": "只是文字".encode()})
    archive, members = open_archive(io.BytesIO(outer), ArchiveLimits())
    with archive:
        assert [(m.name, m.source) for m in members] == [("notes.zip", None)]


def test_member_count_is_counted_across_levels() -> None:
    inner = _zip({f"{n}.txt": b"x" for n in range(4)})
    outer = _zip({"a.txt": b"a", "inner.zip": inner})
    archive, members = open_archive(io.BytesIO(outer), ArchiveLimits(max_members=6))
    with archive:
        assert sorted(m.name for m in members) == [
            "a.txt",
            "inner.zip/0.txt",
            "inner.zip/1.txt",
            "inner.zip/2.txt",
            "inner.zip/3.txt",
        ]
    with pytest.raises(ArchiveRefusedError, match="文件过多（6 个，上限 5 个）"):
        open_archive(io.BytesIO(outer), ArchiveLimits(max_members=5))


def test_total_size_and_ratio_are_counted_across_levels() -> None:
    # each inner member is harmless alone; together they pass the total …
    text = random.Random(1).randbytes(512 * 1024)  # incompressible
    inner = _zip({"1.bin": text, "2.bin": text})
    outer = _zip({"one.bin": text, "inner.zip": inner})
    with pytest.raises(ArchiveRefusedError, match="总大小超过上限"):
        open_archive(io.BytesIO(outer), ArchiveLimits(max_total_bytes=3 * len(text) - 1))
    archive, _ = open_archive(io.BytesIO(outer), ArchiveLimits(max_total_bytes=3 * len(text)))
    archive.close()
    # … and zeros packed twice: small per member at each level, a bomb overall
    zeros = b"\x00" * (900 * 1024)  # under the 1 MB floor of the per-member check
    inner = _zip({f"{n}.bin": zeros for n in range(40)})
    outer = _zip({"inner.zip": inner})
    with pytest.raises(ArchiveRefusedError, match="整体压缩比异常"):
        open_archive(io.BytesIO(outer), ArchiveLimits(max_ratio=200))
