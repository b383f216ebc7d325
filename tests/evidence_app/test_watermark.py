"""Watermarked views: every page an outside expert sees of a document (the viewer's page
images, downloaded PDFs and pictures) carries their name, the time and 仅供评审使用; formats
that cannot carry it are not handed out; an expert invited without downloads only views;
every view and download of theirs is audited; an admin can stamp everyone's."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from pypdf.generic import RectangleObject
from sqlalchemy import select

from evidence_app.admin import settings
from evidence_app.documents import watermark
from evidence_app.experts.access import invite_expert
from storage import AuditLog, Blob, CatalogEntry, User, utcnow
from tests import factories

PAGES = ["第一页 总体情况", "第二页 与迅达电梯合作开设迅达电梯订单班", "第三页 附件"]


def photo_jpeg() -> bytes:
    """A grey 'scan' with dark lines: no pixel of it is red."""
    image = Image.new("RGB", (900, 1200), (236, 236, 232))
    draw = ImageDraw.Draw(image)
    for y in range(80, 1150, 36):
        draw.rectangle([60, y, 840, y + 12], fill=(40, 40, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def docx_bytes() -> bytes:
    from docx import Document as Docx

    document = Docx()
    document.add_paragraph("订单班合作协议")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def red_share(image: Image.Image) -> float:
    """The share of reddish pixels (the stamp's colour, semi-transparent)."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return float(((r > g + 20) & (r > b + 20)).mean())


def quadrants(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    return [
        image.crop(box)
        for box in (
            (0, 0, w // 2, h // 2),
            (w // 2, 0, w, h // 2),
            (0, h // 2, w // 2, h),
            (w // 2, h // 2, w, h),
        )
    ]


@pytest.fixture
def library(runtime, make_framework, make_user):
    """A framework with a three-page PDF, a JPEG and a DOCX under entry 2.3.4-1, staff and
    admin users, and two experts: 王专家 (may download) and 李专家 (view only)."""
    fid = make_framework()["framework_id"]
    files = {"pdf": factories.multi_page_pdf(PAGES), "jpg": photo_jpeg(), "docx": docx_bytes()}
    docs = {}
    with runtime.unit_of_work() as s:
        entry = s.scalars(
            select(CatalogEntry).where(
                CatalogEntry.framework_id == fid, CatalogEntry.code == "2.3.4-1"
            )
        ).one()
        for kind, data in files.items():
            doc = factories.add_document(
                s,
                runtime,
                fid,
                f"2.3.4-1 订单班材料.{kind}",
                data,
                entry=entry,
                pages=[(text, "text") for text in (PAGES if kind == "pdf" else ["订单班"])],
            )
            docs[kind] = doc.id
        ends = utcnow() + timedelta(days=14)
        wang = invite_expert(s, framework_id=fid, name="王专家", expires_at=ends)
        li = invite_expert(s, framework_id=fid, name="李专家", expires_at=ends, can_download=False)
        experts = {
            "wang": (wang.expert.id, wang.signin_secret, wang.api_token),
            "li": (li.expert.id, li.signin_secret, li.api_token),
        }
    return {
        "fid": fid,
        "docs": docs,
        "files": files,
        "experts": experts,
        "staff": make_user("staff", "zhang", display_name="张老师"),
        "reviewer": make_user("reviewer", "zhao", display_name="赵评审"),
        "admin": make_user("admin", "boss", display_name="管理员"),
    }


def expert_client(app, library, who: str):
    """A browser signed in through the expert's link."""
    client = app.test_client()
    entered = client.post(f"/expert/signin/{library['experts'][who][1]}")
    assert entered.status_code == 302, entered.get_data(as_text=True)[:300]
    return client


def bearer(library, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {library['experts'][who][2]}"}


def audit_rows(runtime, action: str, user_id: int) -> list[AuditLog]:
    with runtime.session() as s:
        return list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.action == action, AuditLog.user_id == user_id)
                .order_by(AuditLog.id)
            )
        )


def fetch(client, url: str) -> bytes:
    """The body of a GET, the response closed (a streamed download holds the blob open)."""
    response = client.get(url)
    try:
        assert response.status_code == 200, (url, response.status_code)
        return response.data
    finally:
        response.close()


def assert_stamped_pdf(data: bytes, original: bytes, name: str) -> None:
    assert data != original
    assert data.startswith(original)  # an incremental update: the original bytes are kept
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) == len(PAGES)
    for page, text in zip(pages, PAGES, strict=True):
        extracted = page.extract_text()
        assert text in extracted  # the page itself is still there
        assert name in extracted and "仅供评审使用" in extracted
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d 北京时间", extracted)


# -- downloads ---------------------------------------------------------------------------------


def test_an_experts_pdf_download_carries_the_name_on_every_page(app, runtime, library) -> None:
    doc, original = library["docs"]["pdf"], library["files"]["pdf"]
    response = app.test_client().get(
        f"/api/v1/documents/{doc}/download", headers=bearer(library, "wang")
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "ETag" not in response.headers and "Accept-Ranges" not in response.headers
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert_stamped_pdf(response.data, original, "王专家")

    web = expert_client(app, library, "wang").get(f"/documents/{doc}/download")
    assert web.status_code == 200
    assert_stamped_pdf(web.data, original, "王专家")

    rows = audit_rows(runtime, "document.download", library["experts"]["wang"][0])
    assert [(r.object_id, r.detail["version"]) for r in rows] == [(doc, 1), (doc, 1)]
    assert all("王专家" in r.detail["watermark"] for r in rows)


def test_an_experts_picture_download_is_drawn_on(app, library) -> None:
    original = library["files"]["jpg"]
    response = app.test_client().get(
        f"/api/v1/documents/{library['docs']['jpg']}/download", headers=bearer(library, "wang")
    )
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    stamped = Image.open(io.BytesIO(response.data))
    plain = Image.open(io.BytesIO(original))
    assert stamped.format == "JPEG" and stamped.size == plain.size
    assert red_share(plain) == 0
    # the stamp repeats over the whole picture: no quarter of it is free of it
    assert all(red_share(part) > 0.01 for part in quadrants(stamped))


def test_formats_that_cannot_be_stamped_are_refused_to_experts(app, runtime, library) -> None:
    doc = library["docs"]["docx"]
    api = app.test_client().get(
        f"/api/v1/documents/{doc}/download", headers=bearer(library, "wang")
    )
    assert api.status_code == 403
    assert "无法可靠地加盖水印" in api.get_json()["error"] and "在线查看" in api.get_json()["error"]
    page = expert_client(app, library, "wang").get(f"/documents/{doc}/download")
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "DOCX 文件无法可靠地加盖水印" in html and f"/documents/{doc}/view" in html
    refused = audit_rows(runtime, "access.denied", library["experts"]["wang"][0])
    assert [(r.object_id, r.detail["reason"]) for r in refused] == [(doc, "not_stampable")] * 2
    assert audit_rows(runtime, "document.download", library["experts"]["wang"][0]) == []


def test_a_view_only_expert_views_but_never_downloads(app, runtime, library) -> None:
    client = expert_client(app, library, "li")
    li_id = library["experts"]["li"][0]
    for kind, doc in library["docs"].items():
        page = client.get(f"/documents/{doc}/download")
        assert page.status_code == 403, kind
        assert "只能在线查看" in page.get_data(as_text=True)
        api = app.test_client().get(
            f"/api/v1/documents/{doc}/download?version=1", headers=bearer(library, "li")
        )
        assert api.status_code == 403
        assert "只能在线查看" in api.get_json()["error"]
        detail = client.get(f"/documents/{doc}").get_data(as_text=True)
        assert "/download" not in detail  # no download link on the page
        assert "/download" not in client.get(f"/documents/{doc}/view").get_data(as_text=True)
    image = client.get(f"/documents/{library['docs']['pdf']}/pages/2.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    reasons = {r.detail["reason"] for r in audit_rows(runtime, "access.denied", li_id)}
    assert reasons == {"no_download"}
    assert audit_rows(runtime, "document.download", li_id) == []


def test_a_damaged_original_is_not_stamped_but_refused(app, runtime, library) -> None:
    """The stamped copy is new content: the original is checked while it is copied."""
    original = library["files"]["pdf"]
    sha = hashlib.sha256(original).hexdigest()
    path = runtime.blobs.path_for(sha)
    altered = bytearray(original)
    altered[len(altered) // 2] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(altered))
    url = f"/api/v1/documents/{library['docs']['pdf']}/download"
    for _ in range(2):  # found on the way, then refused from the record
        response = app.test_client().get(url, headers=bearer(library, "wang"))
        assert response.status_code == 409
        assert "已损坏" in response.get_json()["error"]
    with runtime.session() as s:
        assert s.get(Blob, sha).damaged_at is not None


# -- the viewer ----------------------------------------------------------------------------------


def test_page_images_are_stamped_for_experts_and_audited(app, runtime, library, login) -> None:
    doc = library["docs"]["pdf"]
    staff = login(library["staff"]).get(f"/documents/{doc}/pages/1.png")
    expert = expert_client(app, library, "wang")
    stamped = expert.get(f"/documents/{doc}/pages/1.png")
    assert staff.status_code == stamped.status_code == 200
    plain_image = Image.open(io.BytesIO(staff.data))
    stamped_image = Image.open(io.BytesIO(stamped.data))
    assert plain_image.size == stamped_image.size
    assert red_share(plain_image) == 0
    assert all(red_share(part) > 0.01 for part in quadrants(stamped_image))
    if os.environ.get("EVIDENCE_SAVE_STAMP"):  # to look at it: EVIDENCE_SAVE_STAMP=1
        stamped_image.save(Path(tempfile.gettempdir()) / "stamped-page.png")
    # the page's own text is still readable where the stamp is not: the two agree elsewhere
    difference = np.abs(
        np.asarray(plain_image.convert("L")).astype(int)
        - np.asarray(stamped_image.convert("L")).astype(int)
    )
    assert (difference < 8).mean() > 0.6

    expert.get(f"/documents/{doc}/pages/2.png")
    picture = expert.get(f"/documents/{library['docs']['jpg']}/pages/1.png")
    assert picture.status_code == 200
    assert red_share(Image.open(io.BytesIO(picture.data))) > 0.01
    text_page = expert.get(f"/documents/{library['docs']['docx']}/view")
    assert 'class="page-text stamped"' in text_page.get_data(as_text=True)
    tile = expert.get("/documents/stamp.png")
    assert tile.status_code == 200 and tile.mimetype == "image/png"
    assert login(library["staff"]).get("/documents/stamp.png").status_code == 404

    views = audit_rows(runtime, "document.view", library["experts"]["wang"][0])
    assert [(r.object_id, r.detail) for r in views] == [
        (doc, {"page": 1}),
        (doc, {"page": 2}),
        (library["docs"]["jpg"], {"page": 1}),
        (library["docs"]["docx"], {"page": 1}),
    ]
    assert audit_rows(runtime, "document.view", library["staff"].id) == []


# -- watermark_all -----------------------------------------------------------------------------


def test_watermark_all_stamps_everyone_with_their_own_name(app, runtime, library, login) -> None:
    doc, original = library["docs"]["pdf"], library["files"]["pdf"]
    staff = login(library["staff"])
    assert fetch(staff, f"/documents/{doc}/download") == original  # off: the original

    admin = login(library["admin"])
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "对所有用户加盖水印" in page and "checked" not in page
    assert admin.post("/admin/settings", data={"watermark_all": "1"}).status_code == 302
    assert "checked" in admin.get("/admin/settings").get_data(as_text=True)
    assert_stamped_pdf(staff.get(f"/documents/{doc}/download").data, original, "张老师")
    image = Image.open(io.BytesIO(staff.get(f"/documents/{doc}/pages/1.png").data))
    assert red_share(image) > 0.01
    # what cannot be stamped: the staff who manage it still get the original, others do not
    docx = library["docs"]["docx"]
    assert fetch(staff, f"/documents/{docx}/download") == library["files"]["docx"]
    assert login(library["reviewer"]).get(f"/documents/{docx}/download").status_code == 403

    assert admin.post("/admin/settings", data={}).status_code == 302
    assert fetch(staff, f"/documents/{doc}/download") == original
    changes = audit_rows(runtime, "setting.update", library["admin"].id)
    assert [r.detail for r in changes] == [
        {"key": "watermark_all", "value": True},
        {"key": "watermark_all", "value": False},
    ]


def test_settings_service(runtime, library) -> None:
    with runtime.unit_of_work() as s:
        admin = s.get(User, library["admin"].id)
        assert settings.watermark_all(s) is False
        assert settings.set_watermark_all(s, True, admin) is True
        assert settings.set_watermark_all(s, True, admin) is False  # no change, no record
        assert settings.watermark_all(s) is True
        with pytest.raises(settings.SettingError):
            settings.get_bool(s, "no_such_setting")
    with runtime.session() as s:
        assert settings.watermark_all(s) is True
        assert watermark.stamp_for(s, s.get(User, library["staff"].id)) is not None


def test_the_settings_form_needs_its_csrf_token(tmp_path: Path, database_url: str) -> None:
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from evidence_app.auth.users import create_user
    from storage import upgrade_database

    app = create_app(TestConfig(tmp_path / "i", DATABASE_URL=database_url, WTF_CSRF_ENABLED=True))
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    try:
        with runtime.unit_of_work() as s:
            create_user(s, "admin", factories.PASSWORD, "admin")
        client = app.test_client()
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)
        ).group(1)
        client.post(
            "/login",
            data={"username": "admin", "password": factories.PASSWORD, "csrf_token": token},
        )
        assert client.post("/admin/settings", data={"watermark_all": "1"}).status_code == 400
        with runtime.session() as s:
            assert settings.watermark_all(s) is False
        page = client.get("/admin/settings").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        ok = client.post("/admin/settings", data={"watermark_all": "1", "csrf_token": token})
        assert ok.status_code == 302
        with runtime.session() as s:
            assert settings.watermark_all(s) is True
    finally:
        runtime.close()


# -- the stamp itself ----------------------------------------------------------------------------


def _stamp() -> watermark.Stamp:
    return watermark.Stamp(
        "王专家", datetime(2026, 12, 4, 8, 5, tzinfo=UTC).astimezone(watermark.BEIJING)
    )


def test_the_stamp_says_who_when_and_what_for() -> None:
    assert _stamp().text == "王专家  2026-12-04 16:05 北京时间  仅供评审使用"
    user = User(username="expert-1a2b", display_name="", role="expert")
    assert watermark.make_stamp(user).name == "expert-1a2b"
    # the glyphs come with the pip dependencies, not from the system's fonts
    assert watermark.font_path().name == "NotoSansSC-Regular.otf"


def test_every_frame_of_a_picture_is_stamped_in_its_own_format() -> None:
    frames = [Image.new("L", (600, 800), 230), Image.new("1", (600, 800), 1)]
    tiff = io.BytesIO()
    frames[0].save(tiff, format="TIFF", save_all=True, append_images=frames[1:])
    png = io.BytesIO()
    Image.new("RGBA", (400, 300), (0, 0, 255, 0)).save(png, format="PNG")
    for data, file_type, fmt in ((tiff, "tif", "TIFF"), (png, "png", "PNG")):
        out = io.BytesIO()
        data.seek(0)
        watermark.stamp_image_file(data, out, file_type, _stamp())
        out.seek(0)
        with Image.open(out) as stamped:
            assert stamped.format == fmt
            count = getattr(stamped, "n_frames", 1)
            assert count == (2 if fmt == "TIFF" else 1)
            with Image.open(data) as original:
                for n in range(count):
                    stamped.seek(n)
                    original.seek(n)
                    changed = np.asarray(stamped.convert("RGBA")) != np.asarray(
                        original.convert("RGBA")
                    )
                    assert 0.01 < changed.any(axis=2).mean() < 0.5  # drawn on, not painted over
    with pytest.raises(watermark.WatermarkError):
        watermark.stamp_image_file(io.BytesIO(b"not a picture"), io.BytesIO(), "jpg", _stamp())


def _stamped(data: bytes) -> tuple[bytes, bool]:
    """The stamped PDF and whether it was an incremental update of the original."""
    with tempfile.TemporaryFile() as file:
        file.write(data)
        result = watermark.stamp_pdf_file(file, _stamp())
        try:
            result.seek(0)
            return result.read(), result is file
        finally:
            if result is not file:
                result.close()


def test_turned_and_cropped_pages_get_an_upright_stamp() -> None:
    reader = PdfReader(io.BytesIO(factories.multi_page_pdf(["一", "二", "三", "四"])))
    writer = PdfWriter(clone_from=reader)
    for i, page in enumerate(writer.pages):
        page.rotate(90 * i)
    writer.pages[3].cropbox = RectangleObject([50, 100, 450, 700])
    out = io.BytesIO()
    writer.write(out)
    data, incremental = _stamped(out.getvalue())
    assert incremental
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        for i in range(4):
            page = pdf[i]
            text = page.get_textpage().get_text_range()
            assert "王专家" in text
            # upright as shown: the line at the bottom of the shown page reads left to right
            left, bottom, right, top = page.get_textpage().get_charbox(text.index("王专家"))
            assert right > left
            page.close()
    finally:
        pdf.close()


def test_an_owner_password_pdf_is_rewritten_then_stamped() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(factories.multi_page_pdf(PAGES))))
    writer.encrypt(user_password="", owner_password="only-the-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    data, incremental = _stamped(out.getvalue())
    assert not incremental
    for page, text in zip(PdfReader(io.BytesIO(data)).pages, PAGES, strict=True):
        assert text in page.extract_text() and "王专家" in page.extract_text()


def test_pdfs_that_cannot_be_stamped_say_why() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(factories.multi_page_pdf(PAGES))))
    writer.encrypt(user_password="secret", owner_password="secret2")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(watermark.WatermarkError, match="打开密码"):
        _stamped(out.getvalue())
    with pytest.raises(watermark.WatermarkError, match="结构损坏"):
        _stamped(b"%PDF-1.4\n not really a pdf")


def test_real_pdfs_with_cross_reference_streams(corpus_dir: Path) -> None:
    """pdfTeX output: object streams and an xref stream, which the update continues."""
    from tests.conftest import corpus_file

    original = corpus_file(corpus_dir, "bithesis-doc__doc.pdf").read_bytes()
    data, incremental = _stamped(original)
    assert incremental and data.startswith(original)
    assert b"/Type /XRef" in data[len(original) :]
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) == len(PdfReader(io.BytesIO(original)).pages) > 40
    assert all("王专家" in page.extract_text() for page in pages)
