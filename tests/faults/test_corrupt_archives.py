"""A ZIP whose member is corrupt (bad CRC): the upload answers with what it stored and why
the rest was refused — no 500, and nothing left pending forever."""

from __future__ import annotations

import io
import zipfile

from storage import Document


def _zip_with_a_corrupt_second_member() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("2.3.4-1 名单.txt", "迅达电梯订单班学生名单".encode())
        z.writestr("2.3.4-2 办法.txt", "订单班建设管理办法全文".encode() * 20)
    data = bytearray(buf.getvalue())
    marker = "订单班建设管理办法全文".encode()
    at = data.index(marker)
    data[at] ^= 0xFF  # the stored bytes no longer match the member's CRC
    return bytes(data)


def test_a_member_with_a_bad_crc_is_refused_and_the_rest_kept(
    app, runtime, make_framework, make_user, token_for
) -> None:
    fid = make_framework()["framework_id"]
    headers = token_for(make_user("staff"))
    response = app.test_client().post(
        "/api/v1/documents",
        headers=headers,
        data={
            "framework_id": str(fid),
            "files": (io.BytesIO(_zip_with_a_corrupt_second_member()), "材料.zip"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [d["name"] for d in body["documents"]] == ["2.3.4-1 名单.txt"]
    assert [r["name"] for r in body["rejected"]] == ["材料.zip"]
    assert "损坏" in body["rejected"][0]["reason"]
    with runtime.session() as s:
        statuses = {d.title: d.status for d in s.query(Document)}
    assert statuses == {"名单": "indexed"}  # processed, not pending forever
    assert len(list(runtime.blobs.iter())) == 1  # the broken member's bytes are not kept
