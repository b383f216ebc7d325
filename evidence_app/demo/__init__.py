"""The demo: the bundled sample framework and a small generated set of evidence files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

SAMPLE_FRAMEWORK = Path(__file__).resolve().parent / "sample_framework.xlsx"

# (code, file name, paragraphs) — short texts written for the demo
EVIDENCE: list[tuple[str, str, list[Any]]] = [
    (
        "1.1.1-1",
        "2022年专业设置与区域重点产业匹配度报告.docx",
        [
            "2022年专业设置与区域重点产业匹配度报告",
            "我校2022年招生专业共48个，其中与广东省战略性支柱产业集群和战略性新兴产业集群直接对接的专业46个，匹配度为95.8%。",
            "重点对接产业包括智能制造、新一代电子信息、数字创意、现代服务业等，专业设置依据《广东省制造业高质量发展“十四五”规划》调整。",
        ],
    ),
    (
        "2.3.4-1",
        "2020-2022级企业订单学明细表.xlsx",
        [
            ["年级", "专业", "合作企业", "订单班名称", "人数"],
            ["2020级", "电梯工程技术", "迅达（中国）电梯有限公司", "迅达电梯订单班", "42"],
            ["2021级", "电梯工程技术", "广州广日电梯工业有限公司", "广日电梯订单班", "45"],
            ["2022级", "物联网应用技术", "腾讯云计算（北京）有限责任公司", "腾讯云订单班", "38"],
        ],
    ),
    (
        "2.3.4-2",
        "校企合作订单班建设管理办法.pdf",
        [
            "广东工程职业技术学院校企合作“订单班”建设管理办法",
            "第一条 为深化产教融合、校企合作，规范订单班的组建与管理，制定本办法。",
            "第二条 订单班由学校与合作企业共同制定人才培养方案，共同实施教学，学生毕业后按协议到企业就业。",
            "第三条 订单班实行现代学徒制试点管理，企业导师与学校教师组成双导师团队。",
        ],
    ),
    (
        "2.5.2-1",
        "专业课专任教师一览表.txt",
        [
            "专业课专任教师一览表（节选）",
            "姓名\t专业\t是否双师型教师\t职业资格证书",
            "李老师\t电梯工程技术\t是\t电梯安装维修工（高级技师）",
            "王老师\t物联网应用技术\t是\t1+X 物联网智能家居系统集成和应用（中级）",
            "双师型专业课专任教师占比为86.4%。",
        ],
    ),
    (
        "2.2.2-1",
        "2022年1+X证书制度试点工作报告.docx",
        [
            "2022年“1+X”证书制度试点工作报告",
            "2022年我校共承担51个1+X证书试点，参加考核4432人次，通过率92.1%。",
            "试点工作坚持书证融通，将职业技能等级标准融入专业人才培养方案和课程标准。",
        ],
    ),
]


class GbkZipInfo(zipfile.ZipInfo):
    """A member whose name is written in CP936 without the UTF-8 flag (Chinese Windows)."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def build_evidence_zip(target: Path) -> Path:
    """A ZIP like staff make on Chinese Windows: folders per indicator, GBK member names."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for code, name, content in EVIDENCE:
            info = GbkZipInfo(f"{_folder_for(code)}/{code} {name}")
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _render(name, content))
    return target


def _folder_for(code: str) -> str:
    parts = code.split("-")[0].split(".")
    return "/".join(".".join(parts[: i + 1]) for i in range(len(parts)))


def _render(name: str, content: list[Any]) -> bytes:
    suffix = name.rsplit(".", 1)[-1]
    if suffix == "docx":
        import docx

        document = docx.Document()
        for paragraph in content:
            document.add_paragraph(paragraph)
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()
    if suffix == "xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        sheet = wb.active
        assert sheet is not None  # a new workbook has one worksheet
        for row in content:
            sheet.append(row)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    if suffix == "pdf":
        return text_pdf(content)
    return "\n".join(content).encode("utf-8")


def text_pdf(paragraphs: list[str], pages: int = 1) -> bytes:
    """A PDF with a real Chinese text layer (ReportLab's built-in STSong CID font)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    for page in range(pages):
        y = height - 72
        c.setFont("STSong-Light", 12)
        for paragraph in paragraphs:
            for start in range(0, len(paragraph), 38):
                c.drawString(60, y, paragraph[start : start + 38])
                y -= 20
            y -= 8
        c.drawString(width / 2 - 20, 40, f"第 {page + 1} 页")
        c.showPage()
    c.save()
    return out.getvalue()
