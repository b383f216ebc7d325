"""OFD (GB/T 33190): text page by page from real invoices and built packages, detection by
content, and every bad-input path (truncated, parts missing, XML and entity bombs)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from indexer import (
    ExtractionError,
    Page,
    detect_file_type,
    extract_pages,
    ofd_metadata,
    render_ofd_page,
)
from indexer._ofd import MAX_OFD_XML_BYTES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ofd"
INVOICE = FIXTURES / "ofdrw__invoice_sample.ofd"
INVOICE_5_PAGES = FIXTURES / "ofdrw__invoice_5_pages.ofd"

NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def ofd_xml(doc_root: str = "Doc_0/Document.xml", info: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {NS} DocType="OFD" Version="1.1">'
        f"<ofd:DocBody><ofd:DocInfo><ofd:DocID>d41d8cd98f00b204</ofd:DocID>{info}"
        f"</ofd:DocInfo><ofd:DocRoot>{doc_root}</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )


def page_xml(lines: list[str]) -> str:
    """A page with one TextObject per line, 10 mm apart, 5 mm (about 14 pt) text."""
    objects = "".join(
        f'<ofd:TextObject ID="{100 + i}" Boundary="20 {20 + 10 * i} 170 7" Font="1" Size="5">'
        f'<ofd:TextCode X="0" Y="5">{line}</ofd:TextCode></ofd:TextObject>'
        for i, line in enumerate(lines)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {NS}><ofd:Content>'
        f'<ofd:Layer ID="2">{objects}</ofd:Layer></ofd:Content></ofd:Page>'
    )


def make_ofd(
    path: Path,
    pages: list[list[str]],
    *,
    order: list[int] | None = None,
    parts: dict[str, str | bytes] | None = None,
    leave_out: tuple[str, ...] = (),
) -> Path:
    """An OFD package as GB/T 33190 lays it out: OFD.xml, Doc_0/Document.xml listing the
    pages (in ``order``, default as given), Doc_0/Pages/Page_N/Content.xml; ``parts``
    replaces or adds members, ``leave_out`` drops some."""
    order = list(range(len(pages))) if order is None else order
    listed = "".join(
        f'<ofd:Page ID="{10 + n}" BaseLoc="Pages/Page_{n}/Content.xml"/>' for n in order
    )
    members: dict[str, str | bytes] = {
        "OFD.xml": ofd_xml(),
        "Doc_0/Document.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document {NS}><ofd:CommonData>'
            "<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
            f"<ofd:MaxUnitID>200</ofd:MaxUnitID></ofd:CommonData><ofd:Pages>{listed}"
            "</ofd:Pages></ofd:Document>"
        ),
        **{f"Doc_0/Pages/Page_{n}/Content.xml": page_xml(lines) for n, lines in enumerate(pages)},
        **(parts or {}),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            if name not in leave_out:
                z.writestr(name, data)
    return path


# -- real files -------------------------------------------------------------------------


def test_invoice_reads_line_by_line_with_its_template():
    """Values (page) and labels (template) are joined by position, as printed."""
    (page,) = extract_pages(INVOICE)
    lines = page.text.splitlines()
    assert page.number == 1 and page.source == "text"
    assert lines[:3] == [
        "重庆增值税电子普通发票 发票代码：050001700111",
        "发票号码：99999951",
        "开票日期：2020年10月10日",
    ]
    assert "*餐饮服务*餐费 次 4 25 100.00 6% 6.00" in lines
    assert "价税合计（大写） 叁佰壹拾捌圆整 （小写）¥318.00" in lines
    assert "销售方名称：杭州融易算企业管理咨询有限公司" in lines
    assert lines[-1] == "收款人：张一诺 复核：张嘉诺 开票人：任盈盈"


def test_invoice_with_list_pages_in_document_order():
    pages = list(extract_pages(INVOICE_5_PAGES))
    assert [p.number for p in pages] == [1, 2, 3, 4, 5]
    assert "价税合计（大写） 壹万零陆佰圆整 （小写）¥10600.00" in pages[0].text
    for number in (2, 3, 4, 5):
        assert f"共 4 页第 {number - 1} 页" in pages[number - 1].text
    assert "27 *餐饮服务*餐费 100.00 6% 6.00" in pages[2].text.splitlines()


def test_detected_by_content_without_extension(tmp_path: Path):
    blob = tmp_path / "3f2a9c"  # stored blobs are named by their hash
    shutil.copy(INVOICE, blob)
    assert detect_file_type(blob) == "ofd"
    assert detect_file_type(blob, "发票.zip") == "ofd"
    assert detect_file_type(INVOICE) == "ofd"


def test_a_zip_named_ofd_without_ofd_xml_is_refused(tmp_path: Path):
    path = make_ofd(tmp_path / "a.ofd", [["正文"]], leave_out=("OFD.xml",))
    assert detect_file_type(path) == "ofd"  # the name says so; reading tells what is wrong
    assert detect_file_type(path, "a.zip") == "zip"
    with pytest.raises(ExtractionError, match=r"OFD\.xml is missing"):
        list(extract_pages(path))


# -- built packages ---------------------------------------------------------------------


def test_pages_follow_document_xml_not_folder_names(tmp_path: Path):
    path = make_ofd(
        tmp_path / "order.ofd",
        [["第二页 校企合作"], ["第一页 关于开展2024年职业院校技能大赛的通知"]],
        order=[1, 0],
    )
    assert list(extract_pages(path)) == [
        Page(1, "第一页 关于开展2024年职业院校技能大赛的通知"),
        Page(2, "第二页 校企合作"),
    ]


def test_objects_of_one_line_join_left_to_right(tmp_path: Path):
    """A line split into objects written out of order reads in order; a wide gap is a
    space, adjacent objects join without one."""
    page = (
        f'<ofd:Page {NS}><ofd:Content><ofd:Layer ID="1">'
        '<ofd:TextObject ID="3" Boundary="80 30 50 6" Size="5">'
        '<ofd:TextCode X="0" Y="5">产教融合</ofd:TextCode></ofd:TextObject>'
        '<ofd:TextObject ID="2" Boundary="40 30 20 6" Size="5">'
        '<ofd:TextCode X="0" Y="5" DeltaX="g 3 5">职业教育</ofd:TextCode></ofd:TextObject>'
        '<ofd:TextObject ID="4" Boundary="20 30 20 6" Size="5">'
        '<ofd:TextCode X="0" Y="5" DeltaX="5 5">通知：</ofd:TextCode></ofd:TextObject>'
        "</ofd:Layer></ofd:Content></ofd:Page>"
    )
    path = make_ofd(tmp_path / "line.ofd", [[]], parts={"Doc_0/Pages/Page_0/Content.xml": page})
    assert [p.text for p in extract_pages(path)] == ["通知：职业教育 产教融合"]


# -- metadata and invoice fields -----------------------------------------------------


def test_invoice_fields_from_doc_info():
    """发票示例: its eInvoice tag is empty, DocInfo's CustomData has the fields."""
    assert ofd_metadata(INVOICE) == {
        "doc_id": "0eb8011566b14d9f942a38d7df30f2de",
        "creation_date": "2020-10-10",
        "invoice_number": "99999951",
        "invoice_code": "050001700111",
        "invoice_date": "2020-10-10",
        "invoice_amount": "318.00",
        "invoice_seller": "杭州融易算企业管理咨询有限公司",
        "invoice_buyer": "科游迈利有限公司",
    }


def test_invoice_fields_from_the_tag_objects(tmp_path: Path):
    """999.ofd's tag refers to the printed objects; without DocInfo's copy the fields
    still come out (¥ and the Chinese date normalized)."""
    assert ofd_metadata(INVOICE_5_PAGES) == {
        "doc_id": "050001700111_12235358",
        "author": "Huhuang Software",
        "creator": "Huhuang Software",
        "creation_date": "2020-08-17",
        "mod_date": "2020-08-17",
        "invoice_number": "12235358",
        "invoice_code": "050001700111",
        "invoice_date": "2020-08-05",
        "invoice_amount": "10600.00",
        "invoice_seller": "财天下科技有限公司",
        "invoice_buyer": "个人",
    }
    stripped = tmp_path / "no-custom-data.ofd"
    with zipfile.ZipFile(INVOICE_5_PAGES) as src, zipfile.ZipFile(stripped, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "OFD.xml":
                head, _, rest = data.decode("utf-8-sig").partition("<ofd:CustomDatas>")
                data = (head + rest.partition("</ofd:CustomDatas>")[2]).encode()
            out.writestr(info, data)
    meta = ofd_metadata(stripped)
    assert (meta["invoice_number"], meta["invoice_amount"], meta["invoice_seller"]) == (
        "12235358",
        "10600.00",
        "财天下科技有限公司",
    )


def test_title_and_author_of_an_official_document(tmp_path: Path):
    info = (
        "<ofd:Title>关于开展2024年职业院校技能大赛的通知</ofd:Title><ofd:Author>教务处</ofd:Author>"
        "<ofd:CreationDate>2024-03-01</ofd:CreationDate>"
    )
    path = make_ofd(tmp_path / "notice.ofd", [["通知"]], parts={"OFD.xml": ofd_xml(info=info)})
    assert ofd_metadata(path) == {
        "doc_id": "d41d8cd98f00b204",
        "title": "关于开展2024年职业院校技能大赛的通知",
        "author": "教务处",
        "creation_date": "2024-03-01",
    }
    with pytest.raises(ExtractionError, match=r"OFD\.xml is missing"):
        ofd_metadata(make_ofd(tmp_path / "x.ofd", [["一"]], leave_out=("OFD.xml",)))


# -- page image ---------------------------------------------------------------------------


def _ink(image, box: tuple[int, int, int, int]) -> float:
    """Share of dark pixels in a region."""
    region = image.crop(box).convert("L")
    return sum(region.histogram()[:128]) / (region.width * region.height)


def test_page_image_draws_text_and_pictures_in_place():
    import pylopdf_fonts_zh_cn  # Noto Sans SC, the font the app's watermark uses

    font = Path(pylopdf_fonts_zh_cn.sans_path())
    image = render_ofd_page(INVOICE, 1, width=1000, font_path=font)
    assert image.size == (1000, 667)  # PhysicalBox 210 x 140 mm
    assert _ink(image, (40, 15, 135, 110)) > 0.3  # the QR code picture (Res/qr.png)
    assert _ink(image, (170, 145, 300, 165)) > 0.05  # 科游迈利有限公司, at 36 mm / 30 mm
    assert _ink(image, (0, 630, 1000, 667)) < 0.01  # blank below the last line
    tall = render_ofd_page(INVOICE_5_PAGES, 3, width=500, font_path=font)
    assert tall.size == (500, 707)  # the list pages are A4
    with pytest.raises(ExtractionError, match="no page 6"):
        render_ofd_page(INVOICE_5_PAGES, 6, width=500, font_path=font)


# -- bad input --------------------------------------------------------------------------


def test_truncated_package(tmp_path: Path):
    data = INVOICE.read_bytes()
    path = tmp_path / "cut.ofd"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="not a valid ZIP package"):
        list(extract_pages(path, "ofd"))
    assert detect_file_type(path) == "ofd"  # by its name: the reader gives the reason


def test_missing_page(tmp_path: Path):
    path = make_ofd(
        tmp_path / "gap.ofd", [["一"], ["二"]], leave_out=("Doc_0/Pages/Page_1/Content.xml",)
    )
    pages = extract_pages(path)
    assert next(pages) == Page(1, "一")
    with pytest.raises(ExtractionError, match=r"page 2 \(Pages/Page_1/Content.xml\) is missing"):
        next(pages)


def test_missing_document(tmp_path: Path):
    path = make_ofd(tmp_path / "nodoc.ofd", [["一"]], leave_out=("Doc_0/Document.xml",))
    with pytest.raises(ExtractionError, match="document Doc_0/Document.xml is missing"):
        list(extract_pages(path))


def test_broken_xml(tmp_path: Path):
    path = make_ofd(tmp_path / "bad.ofd", [["一"]], parts={"OFD.xml": "<ofd:OFD><DocBody>"})
    with pytest.raises(ExtractionError, match="OFD.xml is not well-formed XML"):
        list(extract_pages(path, "ofd"))


def test_entity_bomb_is_refused(tmp_path: Path):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i + 1} "{f"&lol{i};" * 10}">' for i in range(9)).replace(
            "&lol0;", "&lol;"
        )
        + f"]><ofd:Page {NS}><ofd:Content><ofd:Layer><ofd:TextObject Boundary='0 0 1 1'>"
        "<ofd:TextCode X='0' Y='1'>&lol9;</ofd:TextCode></ofd:TextObject></ofd:Layer>"
        "</ofd:Content></ofd:Page>"
    )
    path = make_ofd(tmp_path / "lol.ofd", [[]], parts={"Doc_0/Pages/Page_0/Content.xml": laughs})
    with pytest.raises(ExtractionError, match="has a DTD"):
        list(extract_pages(path))


def test_inflated_xml_is_refused_before_it_is_read(tmp_path: Path):
    """A page that unpacks to more XML than the package's budget: refused from the
    declared sizes, never inflated; the file itself stays small."""
    path = tmp_path / "bomb.ofd"
    make_ofd(path, [["一"]], leave_out=("Doc_0/Pages/Page_0/Content.xml",))
    chunk = (
        b'<ofd:TextObject Boundary="0 0 1 1"><ofd:TextCode>'
        + b"a" * 4000
        + b"</ofd:TextCode></ofd:TextObject>"
    )
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z,
        z.open("Doc_0/Pages/Page_0/Content.xml", "w", force_zip64=True) as target,
    ):
        target.write(f"<ofd:Page {NS}><ofd:Content><ofd:Layer>".encode())
        for _ in range(MAX_OFD_XML_BYTES // len(chunk) + 1):
            target.write(chunk)
        target.write(b"</ofd:Layer></ofd:Content></ofd:Page>")
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(ExtractionError, match="a decompression bomb or too large"):
        list(extract_pages(path))
