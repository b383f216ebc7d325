"""Presentations: PPTX built here with python-pptx, legacy .ppt from Apache POI's test data
(tests/fixtures/ppt), WPS .dps/.wps/.et as the Office formats they are inside."""

from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path

import olefile
import pytest
from pptx import Presentation
from pptx.util import Inches

from indexer import (
    EncryptedError,
    ExtractionError,
    ExtractionSandbox,
    _slides,
    detect_file_type,
    extract_pages,
)
from tests.conftest import corpus_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ppt"
BASIC_PPT = FIXTURES / "poi__basic_test_ppt_file.ppt"
ENCRYPTED_PPT = FIXTURES / "poi__password_protected_hello.ppt"

needs_catppt = pytest.mark.skipif(
    shutil.which("catppt") is None, reason="catppt (Debian package catdoc) is not installed"
)


def make_pptx(path: Path) -> Path:
    """Three slides: title + table + group + notes; a text box; nothing at all."""
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])  # title only
    slide.shapes.title.text = "实训基地建设情况汇报"
    rows = slide.shapes.add_table(3, 2, Inches(0.5), Inches(1.5), Inches(6), Inches(1.5)).table
    for r, (name, count) in enumerate([("项目", "数量"), ("实训室", "12"), ("工位", "480")]):
        rows.cell(r, 0).text = name
        rows.cell(r, 1).text = count
    group = slide.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(0.5), Inches(4), Inches(3), Inches(0.5))
    box.text_frame.text = "校企合作企业 8 家"
    inner = group.shapes.add_group_shape()
    deep = inner.shapes.add_textbox(Inches(4), Inches(4), Inches(3), Inches(0.5))
    deep.text_frame.text = "产教融合第一行"
    deep.text_frame.add_paragraph().text = "产教融合第二行"
    slide.notes_slide.notes_text_frame.text = "讲稿：重点说明双师型教师比例"
    second = prs.slides.add_slide(prs.slide_layouts[6])  # blank
    second.shapes.add_textbox(
        Inches(1), Inches(1), Inches(5), Inches(1)
    ).text_frame.text = "第二页：人才培养方案"
    prs.slides.add_slide(prs.slide_layouts[6])
    prs.save(str(path))
    return path


def test_pptx_a_page_per_slide_with_tables_groups_and_notes(tmp_path: Path):
    path = make_pptx(tmp_path / "汇报.pptx")
    blob = tmp_path / "3f9a"  # blobs are named by their hash
    shutil.copyfile(path, blob)
    assert detect_file_type(blob) == "pptx"
    pages = list(extract_pages(blob))
    assert [(p.number, p.source) for p in pages] == [(1, "text"), (2, "text"), (3, "text")]
    assert pages[0].text == (
        "实训基地建设情况汇报\n"
        "项目\t数量\n实训室\t12\n工位\t480\n"
        "校企合作企业 8 家\n产教融合第一行\n产教融合第二行\n"
        "讲稿：重点说明双师型教师比例"
    )
    assert pages[1].text == "第二页：人才培养方案"
    assert pages[2].text == ""


def test_pptx_in_the_sandbox(tmp_path: Path):
    path = make_pptx(tmp_path / "汇报.pptx")
    sandbox = ExtractionSandbox(memory_mb=1024, timeout=120)
    assert sandbox.detect_file_type(path) == "pptx"
    pages = sandbox.extract_pages(path, "pptx")
    assert [p.number for p in pages] == [1, 2, 3]
    assert "产教融合第二行" in pages[0].text


def test_empty_presentation_has_no_pages(tmp_path: Path):
    path = tmp_path / "空.pptx"
    Presentation().save(str(path))
    assert detect_file_type(path) == "pptx"
    assert list(extract_pages(path)) == []


def test_truncated_and_corrupt_pptx(tmp_path: Path):
    data = make_pptx(tmp_path / "a.pptx").read_bytes()
    truncated = tmp_path / "截断.pptx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="^corrupt PPTX: not a valid ZIP"):
        list(extract_pages(truncated, detect_file_type(truncated)))
    # a valid ZIP whose slide XML is broken
    broken = tmp_path / "坏.pptx"
    with zipfile.ZipFile(tmp_path / "a.pptx") as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "ppt/slides/slide1.xml":
                body = body[: len(body) // 2]
            dst.writestr(info, body)
    assert detect_file_type(broken) == "pptx"
    with pytest.raises(ExtractionError, match="^corrupt PPTX"):
        list(extract_pages(broken))
    # a ZIP without a presentation, named .pptx
    other = tmp_path / "其他.pptx"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("说明.txt", "内容")
    assert detect_file_type(other) == "pptx"
    with pytest.raises(ExtractionError, match="^corrupt PPTX"):
        list(extract_pages(other))


def test_pptx_xml_inflation_is_refused(tmp_path: Path):
    bomb = tmp_path / "炸弹.pptx"
    shutil.copyfile(make_pptx(tmp_path / "a.pptx"), bomb)
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ppt/slides/slide9.xml", b"<a>" + b" " * (49 * 1024 * 1024) + b"</a>")
    assert bomb.stat().st_size < 1024 * 1024
    with pytest.raises(ExtractionError, match="MB of XML .limit 48 MB.: a decompression bomb"):
        list(extract_pages(bomb))


def test_encrypted_pptx(tmp_path: Path):
    pytest.importorskip("msoffcrypto", reason="msoffcrypto-tool (test extra)")
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = make_pptx(tmp_path / "a.pptx")
    locked = tmp_path / "加密.pptx"
    with open(plain, "rb") as src, open(locked, "wb") as dst:
        OOXMLFile(src).encrypt("密码", dst)
    assert detect_file_type(locked) == "pptx"
    with pytest.raises(EncryptedError, match="password-protected PPTX"):
        list(extract_pages(locked))


# -- legacy PPT / WPS ---------------------------------------------------------------------------


BASIC_PAGES = [
    "This is a test title\nThis is a test subtitle\nThis is on page 1\n"
    "These are the notes for page 1",
    "This is the title on page 2\nThis is page two\nIt has several blocks of text\n"
    "None of them have formatting\nThese are the notes on page two, again lacking formatting",
]


@pytest.mark.parametrize("name", ["a.ppt", "汇报.dps", "3f9a", "named-wrong.doc"])
def test_ppt_and_dps_a_page_per_slide_with_notes(tmp_path: Path, name: str):
    path = tmp_path / name
    shutil.copyfile(BASIC_PPT, path)
    assert detect_file_type(path) == "ppt"
    assert detect_file_type(path, "汇报.xls") == "ppt"  # the content decides
    pages = list(extract_pages(path))
    assert [(p.number, p.source) for p in pages] == [(1, "text"), (2, "text")]
    assert [p.text for p in pages] == BASIC_PAGES


def test_ppt_in_the_sandbox():
    sandbox = ExtractionSandbox(memory_mb=1024, timeout=120)
    assert sandbox.detect_file_type(BASIC_PPT) == "ppt"
    assert [p.text for p in sandbox.extract_pages(BASIC_PPT, "ppt")] == BASIC_PAGES


def test_ppt_slides_in_show_order_text_boxes_and_cjk():
    # slides added in the order 1, 3, 2 and then moved: the pages follow the show
    pages = list(extract_pages(FIXTURES / "poi__incorrect_slide_order.ppt"))
    assert [p.text for p in pages] == [
        "Slide 1\nFirst slide I added",
        "Slide 2\nThird slide I added",
        "Slide 3\nSecond slide I added",
    ]
    # text in UTF-16 text boxes (not placeholders), with a character beyond the BMP
    (page,) = extract_pages(FIXTURES / "poi__bug55902-mixedFontChineseCharacters.ppt")
    assert page.number == 1
    for line in ("Single byte", "複数の文字", "カタカナ", "表十ソ", "表Mixパﾋﾟ𠮟", "𠮟Mix"):
        assert line in page.text.split("\n")


def test_ppt_whose_last_save_points_at_itself():
    # POI's sample of a UserEditAtom whose previous-save offset is its own: the newest
    # save is read and the loop is not followed
    pages = list(extract_pages(FIXTURES / "poi__57272_corrupted_usereditatom.ppt"))
    assert [p.number for p in pages] == [1, 2, 3, 4, 5, 6]
    assert pages[0].text == ""
    assert pages[1].text.startswith("RISPETTO DAO 100%\n")
    assert "AUMENTO PANIERE MEDIO" in pages[2].text


@needs_catppt
def test_ppt_without_slides_falls_back_to_catppt():
    (page,) = extract_pages(FIXTURES / "poi__empty.ppt")
    assert page.number == 1


def _break_current_user(path: Path) -> None:
    """Point the Current User stream's offset of the last save past the document."""
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        data = bytearray(ole.openstream("Current User").read())
        data[16:20] = (0xFFFFFF).to_bytes(4, "little")
        ole.write_stream("Current User", bytes(data))


@needs_catppt
def test_ppt_whose_records_cannot_be_followed_is_one_catppt_page(tmp_path: Path):
    broken = tmp_path / "坏.ppt"
    shutil.copyfile(BASIC_PPT, broken)
    _break_current_user(broken)
    (page,) = extract_pages(broken)
    # catppt repeats the slides as outline; each line is kept once, in order
    assert page.text.split("\n")[:4] == [
        "This is a test title",
        "This is a test subtitle",
        "This is on page 1",
        "Default Design",
    ]
    assert page.text.count("This is the title on page 2") == 1
    assert "It has several blocks of text" in page.text


def test_ppt_whose_records_cannot_be_followed_without_catppt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    broken = tmp_path / "坏.ppt"
    shutil.copyfile(BASIC_PPT, broken)
    _break_current_user(broken)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ExtractionError, match="^corrupt PPT: record header at 16777215"):
        list(extract_pages(broken))


def test_ppt_encrypted_truncated_and_empty(tmp_path: Path):
    with pytest.raises(EncryptedError, match="password-protected PPT"):
        list(extract_pages(ENCRYPTED_PPT))
    data = BASIC_PPT.read_bytes()
    for size in (4096, len(data) - 512, len(data) // 2):
        truncated = tmp_path / f"截断{size}.ppt"
        truncated.write_bytes(data[:size])
        assert detect_file_type(truncated) == "ppt"
        with pytest.raises(ExtractionError, match="^corrupt PPT"):
            list(extract_pages(truncated))
    empty = tmp_path / "空.dps"
    empty.write_bytes(b"")
    with pytest.raises(ExtractionError, match="empty file"):
        list(extract_pages(empty, detect_file_type(empty)))


def test_ppt_stream_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_slides, "MAX_PPT_STREAM_BYTES", 4096)
    with pytest.raises(ExtractionError, match="^PPT too large: PowerPoint Document stream"):
        list(extract_pages(BASIC_PPT))


# a PowerPoint Document stream built record by record ([MS-PPT])


def _rec(rtype: int, body: bytes, instance: int = 0, ver: int = 0) -> bytes:
    return struct.pack("<HHI", ver | instance << 4, rtype, len(body)) + body


def _box(*parts: bytes) -> bytes:
    """A shape with a client text box holding ``parts``, in a group in a drawing."""
    textbox = _rec(0xF00D, b"".join(parts), ver=0xF)
    return _rec(0xF004, textbox, ver=0xF)


def _drawing(*shapes: bytes) -> bytes:
    group = _rec(0xF003, b"".join(shapes), ver=0xF)
    return _rec(0x040C, _rec(0xF002, group, ver=0xF), ver=0xF)


def _chars(text: str) -> bytes:
    return _rec(0x0F9F, struct.pack("<I", 4)) + _rec(0x0FA0, text.encode("utf-16-le"))


def _slide_atom(notes_id: int) -> bytes:
    return _rec(0x03EF, struct.pack("<I8sIIHH", 0, b"\0" * 8, 0x80000000, notes_id, 0, 0))


def _persist(persist_id: int, slide_id: int) -> bytes:
    return _rec(0x03F3, struct.pack("<IIiII", persist_id, 0, 1, slide_id, 0))


def build_ppt_streams(
    document_records: bytes | None = None, drawing_depth: int = 0
) -> tuple[bytes, bytes]:
    """Two slides: a placeholder (outline text) and a text box then notes; outline text
    only, in 8-bit characters. Returns the PowerPoint Document and Current User streams."""
    slide_list = _rec(
        0x0FF0,
        _persist(2, 256)
        + _chars("第一页标题\r第二段")
        + _persist(3, 257)
        + _rec(0x0F9F, struct.pack("<I", 1))
        + _rec(0x0FA8, "Café\x0bsecond line".encode("latin-1")),
        ver=0xF,
    )
    notes_list = _rec(0x0FF0, _persist(4, 300), instance=2, ver=0xF)
    document = document_records or _rec(0x03E8, slide_list + notes_list, ver=0xF)
    nested = _box(_chars("深处"))
    for _ in range(drawing_depth):
        nested = _rec(0xF003, nested, ver=0xF)
    slide1 = _rec(
        0x03EE,
        _slide_atom(300)
        + _drawing(
            _box(_rec(0x0F9E, struct.pack("<I", 0))), _box(_chars("文本框：校企合作")), nested
        ),
        ver=0xF,
    )
    slide2 = _rec(0x03EE, _slide_atom(0), ver=0xF)
    notes = _rec(0x03F0, _drawing(_box(_chars("讲稿：双师型"))), ver=0xF)
    stream = b""
    offsets = []
    for part in (document, slide1, slide2, notes):
        offsets.append(len(stream))
        stream += part
    directory_offset = len(stream)
    stream += _rec(0x1772, struct.pack("<I", 4 << 20 | 1) + struct.pack("<4I", *offsets))
    edit_offset = len(stream)
    stream += _rec(
        0x0FF5, struct.pack("<IHBBIIIIHH", 256, 0, 0, 3, 0, directory_offset, 1, 5, 1, 0)
    )
    current_user = _rec(
        0x0FF6, struct.pack("<IIIHHHBB", 20, 0xE391C05F, edit_offset, 0, 1012, 3, 0, 0)
    )
    return stream, current_user


def test_record_walker_on_a_built_stream():
    stream, current_user = build_ppt_streams()
    assert _slides._ppt_slides(stream, current_user) == [
        "第一页标题\n第二段\n文本框：校企合作\n深处\n讲稿：双师型",
        "Café\nsecond line",
    ]
    # shapes nested deeper than the limit are left out, not followed
    stream, current_user = build_ppt_streams(drawing_depth=_slides.MAX_PPT_DEPTH + 1)
    assert "深处" not in _slides._ppt_slides(stream, current_user)[0]


def test_record_walker_limits_and_broken_records(monkeypatch: pytest.MonkeyPatch):
    stream, current_user = build_ppt_streams()
    # a record longer than its parent
    broken = bytearray(stream)
    broken[4:8] = struct.pack("<I", len(stream))
    with pytest.raises(_slides._PptFormatError, match="runs past its parent"):
        _slides._ppt_slides(bytes(broken), current_user)
    # cut anywhere: a clean refusal, never another exception
    for size in range(0, len(stream), 7):
        try:
            _slides._ppt_slides(stream[:size], current_user)
        except _slides._PptFormatError:
            pass
    with pytest.raises(_slides._PptFormatError, match="Current User stream too short"):
        _slides._ppt_slides(stream, current_user[:10])
    monkeypatch.setattr(_slides, "MAX_PPT_TEXT_CHARS", 8)
    assert _slides._ppt_slides(stream, current_user) == ["第一页标题\n第二", ""]
    monkeypatch.setattr(_slides, "MAX_PPT_RECORDS", 10)
    with pytest.raises(_slides._PptFormatError, match="more than 10 records"):
        _slides._ppt_slides(stream, current_user)


def test_wps_and_et_read_as_doc_and_xls(corpus_dir: Path, tmp_path: Path):
    doc = corpus_file(corpus_dir, "fzu__20.福州大学本科生毕业设计（论文）撰写规范.doc")
    xls = corpus_file(corpus_dir, "easyexcel__t01.xls")
    as_doc = "".join(p.text for p in extract_pages(doc))
    for name in ("论文规范.wps", "论文规范.et", "blob"):
        path = tmp_path / name
        shutil.copyfile(doc, path)
        assert detect_file_type(path) == "doc"
        assert "".join(p.text for p in extract_pages(path)) == as_doc
    as_xls = [p.text for p in extract_pages(xls)]
    for name in ("产品.et", "产品.wps"):
        path = tmp_path / name
        shutil.copyfile(xls, path)
        assert detect_file_type(path) == "xls"
        assert [p.text for p in extract_pages(path)] == as_xls
