"""Presentations: PPTX built here with python-pptx, legacy .ppt from Apache POI's test data
(tests/fixtures/ppt), WPS .dps/.wps/.et as the Office formats they are inside."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from pptx import Presentation
from pptx.util import Inches

from indexer import (
    EncryptedError,
    ExtractionError,
    ExtractionSandbox,
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


@needs_catppt
@pytest.mark.parametrize("name", ["a.ppt", "汇报.dps", "3f9a", "named-wrong.doc"])
def test_ppt_and_dps_by_content(tmp_path: Path, name: str):
    path = tmp_path / name
    shutil.copyfile(BASIC_PPT, path)
    assert detect_file_type(path) == "ppt"
    assert detect_file_type(path, "汇报.xls") == "ppt"  # the content decides
    (page,) = extract_pages(path)
    assert (page.number, page.source) == (1, "text")
    # catppt repeats the slides as outline; each line is kept once, in order
    assert page.text.split("\n")[:4] == [
        "This is a test title",
        "This is a test subtitle",
        "This is on page 1",
        "Default Design",
    ]
    assert page.text.count("This is the title on page 2") == 1
    assert "It has several blocks of text" in page.text


@needs_catppt
def test_ppt_encrypted_truncated_and_empty(tmp_path: Path):
    with pytest.raises(EncryptedError, match="password-protected PPT"):
        list(extract_pages(ENCRYPTED_PPT))
    truncated = tmp_path / "截断.ppt"
    truncated.write_bytes(BASIC_PPT.read_bytes()[:4096])
    assert detect_file_type(truncated) == "ppt"
    with pytest.raises(ExtractionError, match="^corrupt PPT"):
        list(extract_pages(truncated))
    empty = tmp_path / "空.dps"
    empty.write_bytes(b"")
    with pytest.raises(ExtractionError, match="empty file"):
        list(extract_pages(empty, detect_file_type(empty)))


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
