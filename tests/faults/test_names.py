"""Codes in names: a dot inside a code is not an extension, so a name without one
(scanners and ZIP members often have none) keeps its whole code."""

from __future__ import annotations

import io
import zipfile

import pytest

from evidence_app.documents.ingest import code_from_path, name_stem


@pytest.mark.parametrize(
    ("name", "code", "stem"),
    [
        ("2.3.5-1 扫描件", "2.3.5-1", "2.3.5-1 扫描件"),
        ("2.3.4-4 a", "2.3.4-4", "2.3.4-4 a"),
        ("2.3.4-4 a.pdf", "2.3.4-4", "2.3.4-4 a"),
        ("2.3.4", "2.3.4", "2.3.4"),
        ("2.3.4.4 在校生.xlsx", "2.3.4.4", "2.3.4.4 在校生"),
        ("1.1.1-1 报告.7z", "1.1.1-1", "1.1.1-1 报告"),
        ("2.3.4-1 明细.PDF", "2.3.4-1", "2.3.4-1 明细"),
        ("材料/2.1 专业/2.1.2 说明", "2.1.2", "2.1.2 说明"),
    ],
)
def test_codes_and_stems(name: str, code: str, stem: str) -> None:
    assert code_from_path(name) == code
    assert name_stem(name.rsplit("/", 1)[-1]) == stem


def test_a_zip_member_without_extension_links_to_its_entry(
    app, make_framework, make_user, token_for
) -> None:
    fid = make_framework()["framework_id"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("2.3.5-1 扫描件", "现代学徒制试点报告".encode())
    response = app.test_client().post(
        "/api/v1/documents",
        headers=token_for(make_user("staff")),
        data={"framework_id": str(fid), "files": (io.BytesIO(buf.getvalue()), "材料.zip")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    [doc] = response.get_json()["documents"]
    assert (doc["code"], doc["entry"], doc["indicator"]) == ("2.3.5-1", "2.3.5-1", "2.3.5")
