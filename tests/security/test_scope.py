"""Limited-scope staff act only inside their indicators: a file or ZIP folder whose code
links it elsewhere is refused, and the names of other documents never reach their pages."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from storage import Indicator
from tests import factories


@pytest.fixture
def scoped(app, runtime, make_framework, make_user, token_for, login):
    fid = make_framework()["framework_id"]
    limited = make_user("staff", "limited-staff")
    factories.limit_scope(runtime, limited, fid, ["1.1"])
    return {
        "fid": fid,
        "headers": token_for(limited),
        "web": login(limited),
        "api": app.test_client(),
    }


def _upload(scoped, name: str, data: bytes) -> dict:
    response = scoped["api"].post(
        "/api/v1/documents",
        headers=scoped["headers"],
        data={"framework_id": str(scoped["fid"]), "files": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    body = response.get_json()
    body["status"] = response.status_code
    return body


def test_a_file_named_for_another_indicator_is_refused(scoped) -> None:
    refused = _upload(scoped, "2.3.4-1 订单学明细表.txt", "订单班名单".encode())
    assert refused["status"] == 400 and refused["documents"] == []
    assert "范围以外" in refused["rejected"][0]["reason"]
    accepted = _upload(scoped, "1.1.1-1 专业设置报告.txt", "专业设置报告".encode())
    assert accepted["status"] == 201
    assert [(d["entry"], d["indicator"]) for d in accepted["documents"]] == [("1.1.1-1", "1.1.1")]


def test_a_zip_folder_named_for_another_indicator_is_refused(scoped) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("2.3.5 现代学徒制/试点名单.txt", "学徒制试点名单".encode())
        z.writestr("1.1.1 专业设置/说明.txt", "专业设置说明".encode())
    body = _upload(scoped, "材料.zip", buf.getvalue())
    assert [d["indicator"] for d in body["documents"]] == ["1.1.1"]
    assert [r["name"] for r in body["rejected"]] == ["试点名单.txt"]


def test_other_documents_are_not_named_on_indicator_and_queue_pages(
    scoped, runtime, tmp_path: Path
) -> None:
    path = tmp_path / "2.3.4-1 秘密名单.txt"
    path.write_text("不该被看到的名单", encoding="utf-8")
    with factories.worker_stopped(runtime):  # stays on the queue page as pending
        factories.ingest(runtime, [path], scoped["fid"], process=False)
    with runtime.session() as s:
        leaf = s.query(Indicator).filter_by(framework_id=scoped["fid"], code="2.3.4").one().id
    for url in (f"/indicators/{leaf}", "/queue"):
        page = scoped["web"].get(url)
        assert page.status_code == 200, url
        assert "秘密名单" not in page.get_data(as_text=True), url


def test_linking_by_code_stays_inside_the_scope(scoped) -> None:
    """The 添加关联 form (and its JSON answer) refuses a code of another indicator, as the
    upload does; a code inside the scope links."""
    accepted = _upload(scoped, "专业设置说明.txt", "专业设置说明".encode())
    [doc] = accepted["documents"]
    web = scoped["web"]
    outside = web.post(
        f"/documents/{doc['id']}/links",
        data={"code": "2.3.4-1"},
        headers={"Accept": "application/json"},
    )
    assert outside.status_code == 400 and "范围以外" in outside.get_json()["error"]
    inside = web.post(
        f"/documents/{doc['id']}/links",
        data={"code": "1.1.1-1"},
        headers={"Accept": "application/json"},
    )
    assert inside.status_code == 200 and inside.get_json()["linked"] == "1.1.1-1"
