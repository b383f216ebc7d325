"""What an uploader is told: each file's state (已接收 → 处理中 → 可检索, or 无法读取 with the
reason) from /upload/status and /api/v1/documents/status, within the user's scope; the queue
page's figures."""

from __future__ import annotations

import io

from evidence_app.documents.ingest import process_documents
from evidence_app.documents.status import upload_state
from storage import Document, DocumentStatus
from tests.factories import limit_scope, worker_stopped


def _upload(client, fid: int, files: list[tuple[bytes, str]]) -> dict:
    response = client.post(
        "/upload",
        data={
            "framework_id": str(fid),
            "files": [(io.BytesIO(data), name) for data, name in files],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_states_follow_processing(app, runtime, make_framework, make_user, login) -> None:
    fid = make_framework()["framework_id"]
    web = login(make_user("staff"))
    with worker_stopped(runtime):
        report = _upload(
            web,
            fid,
            [
                ("迅达电梯订单班学生名单".encode(), "2.3.4-1 名单.txt"),
                (b"%PDF-1.7\n" + b"\x00garbage" * 100, "2.3.4-2 损坏.pdf"),
            ],
        )
    ids = [d["id"] for d in report["documents"]]
    query = ",".join(map(str, ids))
    waiting = web.get(f"/upload/status?ids={query}").get_json()
    assert [(d["id"], d["state"], d["label"], d["done"]) for d in waiting["documents"]] == [
        (ids[0], "received", "已接收", False),
        (ids[1], "received", "已接收", False),
    ]
    assert waiting["done"] is False
    with runtime.unit_of_work() as s:
        s.get(Document, ids[0]).status = DocumentStatus.PROCESSING
    assert web.get(f"/upload/status?ids={ids[0]}").get_json()["documents"][0]["label"] == "处理中"

    process_documents(runtime, ids)
    done = web.get(f"/upload/status?ids={query}").get_json()
    assert done["done"] is True
    first, second = done["documents"]
    assert (first["state"], first["label"], first["reason"]) == ("searchable", "可检索", "")
    assert (second["state"], second["label"]) == ("unreadable", "无法读取")
    assert second["reason"] == "PDF文件已损坏，无法打开：请用原软件打开检查后重新上传"
    assert first["title"] == "名单"


def test_unreadable_states_say_why() -> None:
    assert upload_state("encrypted", "")["reason"] == "已加密"  # the label when no reason
    assert upload_state("empty", "文件中没有可识别的文字")["label"] == "无法读取"
    assert upload_state("failed", "解析超时")["done"] is True
    assert upload_state("pending", "旧的原因")["reason"] == ""


def test_documents_outside_the_scope_are_left_out(
    app, runtime, make_framework, make_user, login, token_for
) -> None:
    fid = make_framework()["framework_id"]
    admin_web = login(make_user("admin"))
    report = _upload(
        admin_web,
        fid,
        [("订单班名单".encode(), "2.3.4-1 名单.txt"), ("双师型教师".encode(), "2.5.2-1 教师.txt")],
    )
    ids = [d["id"] for d in report["documents"]]
    limited = make_user("staff", "limited")
    limit_scope(runtime, limited, fid, ["2.3.4"])
    query = f"ids={ids[0]},{ids[1]},99999999,{2**63}"
    answer = login(limited).get(f"/upload/status?{query}").get_json()
    assert [d["id"] for d in answer["documents"]] == [ids[0]]
    assert "教师" not in str(answer)  # not even the name of the other file
    api = app.test_client()
    expert = api.get(f"/api/v1/documents/status?{query}", headers=token_for(make_user("expert")))
    assert expert.status_code == 200 and expert.get_json() == {"documents": [], "done": True}
    auditor = api.get(f"/api/v1/documents/status?{query}", headers=token_for(make_user("auditor")))
    assert [d["id"] for d in auditor.get_json()["documents"]] == ids
    with runtime.unit_of_work() as s:
        s.get(Document, ids[1]).deleted = True
    after = admin_web.get(f"/upload/status?{query}").get_json()
    assert [d["id"] for d in after["documents"]] == [ids[0]]  # deleted: gone


def test_bad_ids_are_400_json(app, make_user, login, token_for) -> None:
    web = login(make_user("staff"))
    for query in ("", "ids=", "ids=1,x", "ids=-1", "ids=" + ",".join(["1"] * 501)):
        response = web.get(f"/upload/status?{query}")
        assert response.status_code == 400, query
        assert "ids" in response.get_json()["error"] or "最多" in response.get_json()["error"]
    api = app.test_client().get("/api/v1/documents/status", headers=token_for(make_user("admin")))
    assert api.status_code == 400 and api.get_json()["error"].startswith("缺少参数 ids")
    assert login(make_user("reviewer", "r1")).get("/upload/status?ids=1").status_code == 403


def test_the_queue_counts_done_remaining_and_failed(
    app, runtime, make_framework, make_user, login
) -> None:
    fid = make_framework()["framework_id"]
    web = login(make_user("admin"))
    with worker_stopped(runtime):
        report = _upload(
            web,
            fid,
            [
                ("订单班名单".encode(), "2.3.4-1 名单.txt"),
                (b"%PDF-1.7\n" + b"\x00garbage" * 100, "2.3.4-2 损坏.pdf"),
                ("双师型教师".encode(), "2.5.2-1 教师.txt"),
            ],
        )
    ids = [d["id"] for d in report["documents"]]
    process_documents(runtime, ids[:2])
    page = web.get("/queue").get_data(as_text=True)
    assert 'data-count="done">1<' in page
    assert 'data-count="remaining">1<' in page
    assert 'data-count="failed">1<' in page
    assert 'data-remaining="1"' in page and "自动刷新" in page
