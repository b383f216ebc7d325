"""Why a file could not be read, in the words of the people who uploaded it.

The indexer's errors carry technical English ("corrupt PDF: Failed to load document
(PDFium: Data format error)"); that text goes to the log, and the document's reason is one
Chinese sentence that says what is wrong and what to do.
"""

from __future__ import annotations

import re

from indexer import EncryptedError, ExtractionError, UnsupportedFormatError

_KINDS = {
    "pdf": "PDF",
    "docx": "Word（DOCX）",
    "doc": "Word（DOC）",
    "xlsx": "Excel（XLSX）",
    "xls": "Excel（XLS）",
    "pptx": "PowerPoint（PPTX）",
    "ppt": "PowerPoint（PPT）",
    "ofd": "OFD",
    "image": "图片",
}

#: (pattern over the indexer's message, Chinese reason); the first match wins
_RULES: tuple[tuple[str, str], ...] = (
    (r"empty file", "文件为空（0 字节）"),
    (r"not a text file", "不是文本文件（含二进制内容）：请检查文件扩展名是否正确"),
    (
        r"legacy Office \(OLE2\)",
        "扩展名与内容不符：这是旧版 Office 文件（.doc/.xls/.ppt），请改正扩展名或另存为新格式",
    ),
    (r"ZIP archives are not documents", "压缩包不是文档：请直接上传 .zip 文件，系统会自动展开"),
    (r"images can only be read with OCR", "图片需要文字识别（OCR）才能读取，但服务器已关闭 OCR"),
    (r"needs (catdoc|LibreOffice|the xlrd package)", "服务器缺少读取此格式的组件，请联系管理员"),
    (r"took longer than", "文件转换超时，请另存为 PDF 后重新上传"),
    (r"inflate|unpack|larger than|too large|bomb", "文件解压后过大（疑似异常文件），已停止读取"),
    (r"missing", "文件不完整（缺少必要的部分），可能已损坏或未完整保存"),
)


def reason_for(error: Exception) -> str:
    """The Chinese reason for a read failure (status encrypted, unsupported or failed)."""
    message = str(error)
    if isinstance(error, EncryptedError):
        return "文件已加密（设置了打开密码），无法读取内容：请上传未加密的版本"
    for pattern, reason in _RULES:
        if re.search(pattern, message, re.IGNORECASE):
            return reason
    if isinstance(error, UnsupportedFormatError):
        found = re.search(r"unsupported file type '([^']*)'", message)
        kind = f"（{found.group(1)}）" if found and found.group(1) else ""
        return f"不支持的文件类型{kind}：请转换为 PDF、Word、Excel 或图片后上传"
    if isinstance(error, ExtractionError):
        found = re.match(r"corrupt (\w+)", message)
        kind = _KINDS.get(found.group(1).lower(), found.group(1)) if found else ""
        return (
            f"{kind}文件已损坏，无法打开：请用原软件打开检查后重新上传"
            if kind
            else ("文件已损坏或无法解析：请用原软件打开检查后重新上传")
        )
    return "文件无法读取"
