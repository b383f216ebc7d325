"""What a version's file says about itself, in words for pages, the API and exports: its
digital signatures and electronic seals (含电子签章) and its metadata (标题, 作者, 发票号码…).

Processing stores them on the version (``signature_count``, ``signatures``,
``file_metadata``, read by ``indexer.inspect_file``); nothing here reads a file.
"""

from __future__ import annotations

from typing import Any

from storage import DocumentVersion

#: Metadata keys in the order they are shown, with their labels.
METADATA_LABELS: dict[str, str] = {
    "title": "标题",
    "author": "作者",
    "subject": "主题",
    "keywords": "关键词",
    "abstract": "摘要",
    "created": "创建时间",
    "modified": "修改时间",
    "creator": "创建程序",
    "producer": "生成程序",
    "doc_id": "文档标识",
    "invoice_number": "发票号码",
    "invoice_code": "发票代码",
    "invoice_date": "开票日期",
    "invoice_amount": "金额",
    "invoice_seller": "销售方",
    "invoice_buyer": "购买方",
}
#: OFD signature types (Signatures.xml @Type).
SIGNATURE_TYPES: dict[str, str] = {"seal": "电子签章", "sign": "数字签名"}
SIGNED_LABEL = "含电子签章"


def signers(signatures: list[dict[str, Any]] | None) -> list[str]:
    """Who signed, once each, in the file's order: the certificate's name, else the seal's."""
    out: list[str] = []
    for signature in signatures or []:
        name = str(signature.get("signer") or signature.get("seal") or "").strip()
        if name and name not in out:
            out.append(name)
    return out


def signature_summary(version: DocumentVersion | None) -> dict[str, Any]:
    """``{"count", "signers"}`` of a version (0 and [] for none, or not yet read)."""
    if version is None or not version.signature_count:
        return {"count": 0, "signers": []}
    return {"count": version.signature_count, "signers": signers(version.signatures)}


#: the file types whose signatures are looked for; for others the catalog says 不适用
SIGNABLE_TYPES = ("pdf", "ofd")


def signed_text(count: int, signatures: list[dict[str, Any]] | None, file_type: str = "") -> str:
    """是（signers）, 否, or 不适用 (a type never checked), for the catalog's 电子签章 column."""
    if not count:
        return "否" if not file_type or file_type in SIGNABLE_TYPES else "不适用"
    names = "、".join(signers(signatures))
    return f"是（{names}）" if names else "是"


def signature_rows(version: DocumentVersion | None) -> list[dict[str, str]]:
    """Each signature described for the document page: type, signer, seal, time, method."""
    rows = []
    for signature in (version.signatures or []) if version is not None else []:
        kind = signature.get("type") or ("sign" if signature.get("kind") == "pdf" else "seal")
        rows.append(
            {
                "type": SIGNATURE_TYPES.get(str(kind), str(kind)),
                "signer": str(signature.get("signer") or ""),
                "seal": str(signature.get("seal") or ""),
                "time": str(signature.get("time") or ""),
                "method": str(signature.get("method") or ""),
            }
        )
    return rows


def metadata_rows(version: DocumentVersion | None) -> list[tuple[str, str]]:
    """(label, value) of the metadata the file has, in ``METADATA_LABELS``' order."""
    meta = (version.file_metadata or {}) if version is not None else {}
    rows = [(label, str(meta[key])) for key, label in METADATA_LABELS.items() if meta.get(key)]
    turned = meta.get("rotated_pages")
    if isinstance(turned, dict) and turned:
        pages = sorted(turned.items(), key=lambda item: int(item[0]))
        shown = "、".join(f"第 {n} 页（{int(deg)}°）" for n, deg in pages[:20])
        rows.append(("自动转正", shown + ("等" if len(pages) > 20 else "")))
    return rows
