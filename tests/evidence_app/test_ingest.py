"""Ingestion end to end: store, link by code, extract, index, search, reindex, verify."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evidence_app.demo import GbkZipInfo, text_pdf
from evidence_app.documents.ingest import code_from_path, parse_code
from storage import Blob, Document, DocumentVersion


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("2.3.4-1 2020-2022级企业订单学明细表.pdf", "2.3.4-1"),
        ("2.3.6-7-2校企合作纪要.docx", "2.3.6-7-2"),
        ("2.3.4.4 在校生人数.xlsx", "2.3.4.4"),
        ("1.1.5.1_绩效指标.pdf", "1.1.5.1"),
        ("2.3.4 企业订单学生所占比例", "2.3.4"),
        ("2.3 产教融合", "2.3"),
        ("2.提质", "2"),
        ("2 提质", ""),
        ("2022年度报告.pdf", ""),
        ("2020-2022级名单.xlsx", ""),
        ("〔2022〕24号文件.pdf", ""),
        ("报告.pdf", ""),
    ],
)
def test_parse_code_from_names(name: str, code: str) -> None:
    assert parse_code(name) == code


def test_code_from_folders() -> None:
    assert code_from_path("2.提质/2.3 产教融合/2.3.4 企业订单/2.3.4-1 明细表.pdf") == "2.3.4-1"
    assert code_from_path("2.提质/2.3 产教融合/2.3.4 企业订单/明细表.pdf") == "2.3.4"
    assert code_from_path("材料/明细表.pdf") == ""


@pytest.fixture
def fw(make_framework) -> int:
    return make_framework()["framework_id"]


def ingest(invoke, *paths, framework=None) -> dict:
    args = ["ingest", *map(str, paths), "--json"]
    if framework:
        args += ["--framework", str(framework)]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def search(invoke, query: str, *extra: str) -> dict:
    result = invoke("search", query, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def gbk_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = GbkZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def test_cp936_zip_names_come_out_right_and_link(invoke, fw: int, tmp_path: Path) -> None:
    archive = gbk_zip(
        tmp_path / "佐证材料.zip",
        {
            "2.提质/2.3 产教融合/2.3.4 企业订单/2.3.4-1 2020-2022级企业订单学明细表.txt": "迅达电梯订单班学生名单".encode(),
            "2.提质/2.3 产教融合/2.3.4 企业订单/订单班协议汇编.txt": "学校与企业签订的订单班协议".encode(
                "gbk"
            ),
            "其他/说明.txt": "无编号的文件".encode(),
        },
    )
    with zipfile.ZipFile(archive) as z:
        assert all(not (i.flag_bits & 0x800) for i in z.infolist())
    report = ingest(invoke, archive, framework=fw)
    assert report["accepted"] == 3 and report["rejected"] == []
    got = {
        (d["name"], d["code"], d["entry"], d["indicator"], d["status"]) for d in report["documents"]
    }
    assert got == {
        ("2.3.4-1 2020-2022级企业订单学明细表.txt", "2.3.4-1", "2.3.4-1", "2.3.4", "indexed"),
        ("订单班协议汇编.txt", "2.3.4", None, "2.3.4", "indexed"),
        ("说明.txt", "", None, None, "indexed"),
    }
    # the GBK-encoded text inside was decoded too
    hits = search(invoke, "订单班协议")["hits"]
    assert [h["title"] for h in hits] == ["订单班协议汇编"]


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"../evil.txt": b"x"}, "路径含“..”"),
        ({"a/../../evil.txt": b"x"}, "路径含“..”"),
        ({"/etc/evil.txt": b"x"}, "绝对路径"),
    ],
)
def test_unsafe_zip_refused_and_nothing_stored(
    invoke, fw, runtime, tmp_path: Path, members, reason
) -> None:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("2.3.4-1 ok.txt", "正常文件")
        for name, data in members.items():
            archive.writestr(name, data)
    report = ingest(invoke, path, framework=fw)
    assert report["accepted"] == 0 and report["documents"] == []
    assert len(report["rejected"]) == 1 and reason in report["rejected"][0]["reason"]
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
    assert not (tmp_path.parent / "evil.txt").exists()


def test_symlink_member_refused(invoke, fw, runtime, tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("2.3.4-1 link.txt")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    report = ingest(invoke, path, framework=fw)
    assert report["accepted"] == 0 and "符号链接" in report["rejected"][0]["reason"]


def test_zip_bomb_refused(invoke, fw, runtime, tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("2.3.4-1 bomb.txt", b"\0" * (50 * 1024 * 1024))
    assert path.stat().st_size < 100 * 1024
    report = ingest(invoke, path, framework=fw)
    assert report["accepted"] == 0
    assert "压缩比异常" in report["rejected"][0]["reason"]
    # nested: a ZIP inside a ZIP is unpacked within the same limits, so the bomb in it is
    # refused with the outer archive, once
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(path, "2.3.4-2 inner.zip")
    nested = ingest(invoke, outer, framework=fw)
    assert nested["accepted"] == 0
    assert [r["name"] for r in nested["rejected"]] == ["outer.zip"]
    assert "2.3.4-2 inner.zip/2.3.4-1 bomb.txt" in nested["rejected"][0]["reason"]
    assert "压缩比异常" in nested["rejected"][0]["reason"]
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_corrupt_encrypted_empty_files_keep_their_upload(
    invoke, fw, runtime, tmp_path: Path
) -> None:
    from reportlab.pdfgen import canvas

    corrupt = tmp_path / "2.3.4-1 损坏.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    encrypted = tmp_path / "2.3.4-2 加密.pdf"
    c = canvas.Canvas(str(encrypted), encrypt="secret")
    c.drawString(100, 700, "secret text")
    c.save()
    blank = tmp_path / "2.3.4-3 空白.pdf"
    c = canvas.Canvas(str(blank))
    c.showPage()
    c.save()
    report = ingest(invoke, corrupt, encrypted, blank, framework=fw)
    statuses = {d["name"]: d["status"] for d in report["documents"]}
    assert statuses == {
        "2.3.4-1 损坏.pdf": "failed",
        "2.3.4-2 加密.pdf": "encrypted",
        "2.3.4-3 空白.pdf": "empty",
    }
    with runtime.session() as s:
        for doc in s.scalars(select(Document)):
            assert doc.status_reason
            assert (
                runtime.blobs.path_for(doc.current.blob_sha256).read_bytes()
                == (tmp_path / doc.current.original_name).read_bytes()
            )


def test_same_file_twice_stored_once(invoke, fw, runtime, tmp_path: Path) -> None:
    a = tmp_path / "2.3.4-1 明细表.txt"
    a.write_text("订单班 明细", encoding="utf-8")
    first = ingest(invoke, a, framework=fw)
    second = ingest(invoke, a, framework=fw)
    assert first["documents"][0]["id"] == second["documents"][0]["id"]
    # the same bytes under another code: a second document, one blob
    b = tmp_path / "2.5.2-1 一览表.txt"
    b.write_bytes(a.read_bytes())
    third = ingest(invoke, b, framework=fw)
    assert third["documents"][0]["id"] != first["documents"][0]["id"]
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(Blob)) == 1
        assert s.scalar(select(func.count()).select_from(DocumentVersion)) == 2
    assert len(list(runtime.blobs.iter())) == 1


def test_pdf_pages_codes_phrases_reindex_verify(invoke, fw, runtime, tmp_path: Path) -> None:
    pdf = tmp_path / "2.3.5-1 现代学徒制试点报告.pdf"
    pages = [
        ["第一章 总体情况", "学校高度重视职业教育改革。"],
        ["第二章 试点成效", "现代学徒制试点专业覆盖电梯工程技术等五个专业。"],
        ["第三章 订单培养", "与迅达电梯合作开设迅达电梯订单班，培养学生四十二人。"],
    ]
    pdf.write_bytes(_multi_page_pdf(pages))
    other = tmp_path / "2.3.4-1 订单学明细表.txt"
    other.write_text("订单 班级 电梯 名单（不连续）", encoding="utf-8")
    ingest(invoke, pdf, other, framework=fw)
    hit = search(invoke, "订单班")["hits"]
    assert [(h["code"], h["pages"]) for h in hit] == [("2.3.5-1", [3])]
    assert (
        hit[0]["snippets"][0]["page"] == 3
        and "<mark>订单班</mark>" in hit[0]["snippets"][0]["html"]
    )
    phrase = search(invoke, '"迅达电梯订单班"')["hits"]
    assert [h["code"] for h in phrase] == ["2.3.5-1"]
    by_code = search(invoke, "2.3.4-1")["hits"]
    assert [h["code"] for h in by_code] == ["2.3.4-1"]
    assert [h["code"] for h in search(invoke, "学徒制", "--indicator", "2.3")["hits"]] == [
        "2.3.5-1"
    ]
    assert search(invoke, "学徒制", "--indicator", "2.2")["hits"] == []
    before = [search(invoke, q) for q in ("订单班", "学徒制 试点", "2.3.4-1", "电梯")]
    assert invoke("reindex").exit_code == 0
    after = [search(invoke, q) for q in ("订单班", "学徒制 试点", "2.3.4-1", "电梯")]

    def strip(rs):
        return [[(h["document_id"], h["pages"], h["snippets"]) for h in r["hits"]] for r in rs]

    assert strip(before) == strip(after)
    verified = invoke("verify", "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["ok"] is True


def test_index_left_by_an_older_version_is_rebuilt(invoke, fw, runtime, tmp_path: Path) -> None:
    """An upgrade that changes the index's fields: the old index is recreated and rebuilt
    from the database (pages are not extracted again) the first time the index is opened."""
    import shutil

    from whoosh import fields, index

    path = tmp_path / "2.3.5-1 全国首家长隆产业学院.txt"
    path.write_text("全国首家长隆产业学院揭牌，迅达电梯订单班开班。", encoding="utf-8")
    ingest(invoke, path, framework=fw)
    runtime.index.close()
    runtime._index = None
    folder = runtime.config.INDEX_DIR
    shutil.rmtree(folder)
    folder.mkdir()
    index.create_in(str(folder), fields.Schema(doc_id=fields.ID(stored=True))).close()
    hits = search(invoke, "长隆")["hits"]
    assert [h["code"] for h in hits] == ["2.3.5-1"]
    assert runtime.index.count() == 1 and not runtime.health.rebuilding


def test_verify_catches_an_altered_blob_and_a_missing_index_entry(
    invoke, fw, runtime, tmp_path: Path
) -> None:
    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("订单班", encoding="utf-8")
    doc_id = ingest(invoke, path, framework=fw)["documents"][0]["id"]
    with runtime.session() as s:
        sha = s.get(Document, doc_id).current.blob_sha256
    blob = runtime.blobs.path_for(sha)
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = invoke("verify", "--json")
    assert result.exit_code == 1
    assert [p["kind"] for p in json.loads(result.output)["problems"]] == ["blob_altered"]
    blob.write_text("订单班", encoding="utf-8")
    runtime.index.delete([doc_id])
    result = invoke("verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["problems"] == [{"kind": "not_indexed", "document": doc_id}]


def test_scanned_pdf_is_found_through_ocr(invoke, fw, tmp_path: Path) -> None:
    font = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    if not font.exists():
        pytest.skip("fonts-wqy-zenhei not installed (needed to draw the scanned page)")
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(str(font), 48)
    draw.text((120, 200), "关于公布现代学徒制试点名单的通知", font=face, fill=0)
    draw.text((120, 320), "迅达电梯订单班已通过验收", font=face, fill=0)
    scan = tmp_path / "2.3.5-2 盖章扫描件.pdf"
    image.save(scan, "PDF", resolution=150)
    report = ingest(invoke, scan, framework=fw)
    assert report["documents"][0]["status"] == "indexed"
    hits = search(invoke, "订单班")["hits"]
    assert [(h["code"], h["pages"]) for h in hits] == [("2.3.5-2", [1])]


def test_files_and_folders_with_odd_names(invoke, fw, tmp_path: Path) -> None:
    folder = tmp_path / "2.提质" / "2.3 产教融合"
    folder.mkdir(parents=True)
    (folder / ("长" * 80 + ".txt")).write_text("长文件名", encoding="utf-8")
    (folder / "   .txt").write_text("只有空格", encoding="utf-8")
    (folder / "<i>粗体.txt").write_text("标签", encoding="utf-8")
    (folder / "Thumbs.db").write_bytes(b"\x00thumbs")
    report = ingest(invoke, tmp_path / "2.提质", framework=fw)
    assert report["accepted"] == 3
    assert sorted(d["name"] for d in report["documents"]) == sorted(
        ["长" * 80 + ".txt", ".txt", "<i>粗体.txt"]
    )
    # no file code: the deepest folder's code names the (level-2) indicator
    assert {(d["code"], d["entry"], d["indicator"]) for d in report["documents"]} == {
        ("2.3", None, "2.3")
    }


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("长" * 300 + ".pdf", "长" * 196 + ".pdf"),
        ("a\x00b\x07c.txt", "abc.txt"),
        ("   ", "未命名文件"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("a/b/../c.txt", "c.txt"),
        ("  多个   空格  .txt ", "多个 空格 .txt"),
    ],
)
def test_clean_filename(raw: str, clean: str) -> None:
    from evidence_app.documents.ingest import clean_filename

    assert clean_filename(raw) == clean


def _multi_page_pdf(pages: list[list[str]]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out)
    for lines in pages:
        c.setFont("STSong-Light", 14)
        y = 760
        for line in lines:
            c.drawString(72, y, line)
            y -= 24
        c.showPage()
    c.save()
    return out.getvalue()


def test_text_pdf_helper_has_a_text_layer() -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(text_pdf(["产教融合 订单班"], pages=2))
    try:
        assert len(pdf) == 2
        assert "订单班" in pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()


def test_a_code_listed_twice_follows_its_folder(invoke, fw, tmp_path: Path) -> None:
    # 2.2.2-3 is listed under 2.1.2 (misnumbered) and under 2.2.2 (its own indicator)
    misplaced = tmp_path / "2.提质" / "2.1 体制机制改革" / "2.1.2 二级院系管理体制变革"
    own = tmp_path / "2.提质" / "2.2 教学改革与管理" / "2.2.2 试点"
    for folder in (misplaced, own):
        folder.mkdir(parents=True)
    (misplaced / "2.2.2-3 党政联席会议制度.txt").write_text("党政联席会议", encoding="utf-8")
    (own / "2.2.2-3 证书考核详情表.txt").write_text("证书考核", encoding="utf-8")
    (tmp_path / "2.2.2-3 没有文件夹.txt").write_text("其他", encoding="utf-8")
    report = ingest(invoke, tmp_path / "2.提质", tmp_path / "2.2.2-3 没有文件夹.txt", framework=fw)
    got = sorted((d["name"], d["entry"], d["indicator"]) for d in report["documents"])
    assert got == [
        ("2.2.2-3 党政联席会议制度.txt", "2.2.2-3", "2.1.2"),
        ("2.2.2-3 没有文件夹.txt", "2.2.2-3", "2.2.2"),
        ("2.2.2-3 证书考核详情表.txt", "2.2.2-3", "2.2.2"),
    ]


def test_concurrent_uploads_of_the_same_file_make_one_document(runtime, fw, tmp_path: Path) -> None:
    import threading

    from evidence_app.documents.ingest import ingest_files

    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("订单班 同一份文件", encoding="utf-8")
    ids: list[int] = []
    errors: list[Exception] = []

    def upload() -> None:
        try:
            report = ingest_files(runtime, [path], framework_id=fw, process=False)
            ids.append(report.documents[0]["id"])
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(ids) == 6 and len(set(ids)) == 1
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 1
