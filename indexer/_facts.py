"""What a file says about itself besides its text: digital signatures (electronic seals) and
metadata (title, author, dates, OFD DocID, e-invoice fields).

``inspect_file`` never raises for a bad file: a corrupt, encrypted or unexpected part gives
fewer facts (at worst none), never a failed document. Signatures are found, not verified:
who signed is read from the signer's certificate (its subject CN) where the file carries
one; whether the signature still matches the bytes is a later step.

- PDF: AcroForm fields of type /Sig with a value (/V): the signer from the PKCS#7
  certificates in /Contents (``cryptography``, which pdfminer.six already requires), else
  the field's /Name; the time from /M; the method from /SubFilter. Metadata from the
  document information dictionary.
- OFD: each document's Signatures.xml (GB/T 33190 §18) and each Signature.xml: the type
  (electronic seal or digital signature), provider, method, time; from SignedValue.dat (an
  SES_Signature of GB/T 38540 or GM/T 0031) the seal's name and the signer's certificate.
  Metadata from ``ofd_metadata``.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
import warnings
import zipfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from indexer._ofd import _child, _children, _Package, _text, ofd_metadata
from indexer._types import ExtractionError

log = logging.getLogger(__name__)

#: Signatures described one by one (the count goes on up to ``MAX_SIGNATURES``).
MAX_DESCRIBED = 50
MAX_SIGNATURES = 10_000
#: AcroForm fields visited at most, and how deep their /Kids may nest.
MAX_FIELDS = 20_000
MAX_FIELD_DEPTH = 16
#: A PKCS#7 blob or an OFD SignedValue.dat larger than this is not parsed for its signer.
MAX_SIGNED_VALUE_BYTES = 4 * 1024 * 1024
#: A text value kept in the facts is cut to this many characters.
MAX_VALUE_CHARS = 300
#: XML read from an OFD package for its signatures, in all.
MAX_SIGNATURE_XML_BYTES = 8 * 1024 * 1024

#: Signature algorithms by OID, as people know them.
_METHODS = {
    "1.2.156.10197.1.501": "SM2-SM3",
    "1.2.156.10197.1.301.1": "SM2",
    "1.2.840.113549.1.1.11": "RSA-SHA256",
    "1.2.840.113549.1.1.5": "RSA-SHA1",
    "1.2.840.10045.4.3.2": "ECDSA-SHA256",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Values that producers write when nobody filled the field in (ReportLab, Word templates).
_PLACEHOLDERS = {"untitled", "anonymous", "unspecified", "unknown", "none", "null", "-"}


@dataclass(frozen=True, slots=True)
class FileFacts:
    """Signatures found (each a dict: kind "pdf" or "ofd", and where readable signer, seal,
    time, method, provider, type) and metadata (title, author, created, modified, subject,
    creator, producer, doc_id, invoice_number, invoice_date, invoice_amount, …)."""

    signatures: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    #: signatures in the file, including those beyond ``MAX_DESCRIBED``
    signature_count: int = 0


EMPTY = FileFacts()


def inspect_file(path: str | Path, file_type: str | None) -> FileFacts:
    """The signatures and metadata of a PDF or OFD (empty facts for other types and for
    files that cannot be read)."""
    path = Path(path)
    try:
        if file_type == "pdf":
            return _pdf_facts(path)
        if file_type == "ofd":
            return _ofd_facts(path)
    except MemoryError:
        raise
    except Exception as e:  # a library's error on a broken file must not fail processing
        log.info("no signatures or metadata read from %s: %s: %s", path, type(e).__name__, e)
    return EMPTY


def _clean(value: object) -> str:
    text = _CONTROL.sub("", str(value)).strip()
    return " ".join(text.split())[:MAX_VALUE_CHARS]


def _compact(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        text = _clean(value) if value is not None else ""
        if text and text.lower() not in _PLACEHOLDERS:
            out[key] = text
    return out


# -- certificates ----------------------------------------------------------------------------


def _der_length(data: bytes) -> int | None:
    """The length of the DER element at the start of ``data`` (header included)."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        return None
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def _subject_name(cert: Any) -> str:
    """A certificate subject's CN, else its organisation."""
    from cryptography.x509.oid import NameOID

    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        values = cert.subject.get_attributes_for_oid(oid)
        if values:
            return _clean(values[0].value)
    return ""


def _pkcs7_signer(blob: bytes) -> str:
    """The signer's name from a PKCS#7 (CMS) SignedData: the CN of the end-entity
    certificate (the one that issued no other certificate in the bundle)."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    length = _der_length(blob)
    if length is None or length > len(blob) or length > MAX_SIGNED_VALUE_BYTES:
        return ""
    try:
        certs = pkcs7.load_der_pkcs7_certificates(blob[:length])
    except (ValueError, TypeError):
        return ""
    issuers = {c.issuer for c in certs}
    leaves = [c for c in certs if c.subject not in issuers or c.subject == c.issuer]
    for cert in leaves + certs:
        name = _subject_name(cert)
        if name:
            return name
    return ""


def _x509_name(der: bytes) -> str:
    from cryptography import x509

    try:
        return _subject_name(x509.load_der_x509_certificate(der))
    except (ValueError, TypeError):
        return ""


# -- PDF -------------------------------------------------------------------------------------

_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")


def _pdf_date(value: object) -> str:
    """A PDF date (D:YYYYMMDDHHmmSS+08'00') as "YYYY-MM-DD HH:MM:SS" (as far as given)."""
    m = _PDF_DATE.match(_clean(value))
    if not m:
        return _clean(value)
    year, month, day, hour, minute, second = (g or "" for g in m.groups())
    text = "-".join(p for p in (year, month, day) if p)
    if hour:
        text += f" {hour}:{minute or '00'}:{second or '00'}"
    return text


def _pdf_facts(path: Path) -> FileFacts:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypdf warns about every repaired oddity
        try:
            reader = PdfReader(path, strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                return EMPTY  # a password is needed even to read the fields
        except (PyPdfError, OSError, ValueError, KeyError, TypeError):
            return EMPTY
        metadata: dict[str, str] = {}
        with contextlib.suppress(PyPdfError, ValueError, KeyError, TypeError, AttributeError):
            info: Any = reader.metadata or {}
            metadata = _compact(
                {
                    "title": info.get("/Title"),
                    "author": info.get("/Author"),
                    "subject": info.get("/Subject"),
                    "creator": info.get("/Creator"),
                    "producer": info.get("/Producer"),
                    "created": _pdf_date(info["/CreationDate"])
                    if info.get("/CreationDate")
                    else None,
                    "modified": _pdf_date(info["/ModDate"]) if info.get("/ModDate") else None,
                }
            )
        signatures: list[dict[str, str]] = []
        count = 0
        try:
            root: Any = reader.trailer["/Root"].get_object()
            form = root.get("/AcroForm")
            fields = form.get_object().get("/Fields") if form is not None else None
            if fields is not None:
                count = _pdf_signatures(fields.get_object(), signatures)
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            log.info("%s: the form fields cannot be read for signatures", path)
    return FileFacts(signatures, metadata, max(count, len(signatures)))


def _pdf_signatures(fields: Any, out: list[dict[str, str]]) -> int:
    """Walk the AcroForm field tree (/Kids), describing signed /Sig fields into ``out``;
    the number of signed fields."""
    count = 0
    seen: set[int] = set()
    visited = 0
    todo: deque[tuple[Any, int, Any]] = deque((ref, 0, None) for ref in _array(fields))
    while todo and visited < MAX_FIELDS and count < MAX_SIGNATURES:
        ref, depth, inherited_type = todo.popleft()
        visited += 1
        key = id(ref) if not hasattr(ref, "idnum") else ref.idnum
        if key in seen:
            continue  # a field tree that loops back on itself
        seen.add(key)
        node = ref.get_object()
        if not hasattr(node, "get"):
            continue
        field_type = node.get("/FT", inherited_type)
        kids = node.get("/Kids")
        if kids is not None and depth < MAX_FIELD_DEPTH:
            todo.extend((kid, depth + 1, field_type) for kid in _array(kids.get_object()))
        if field_type != "/Sig":
            continue
        value = node.get("/V")
        value = value.get_object() if value is not None else None
        if not hasattr(value, "get"):
            continue  # an empty signature field: a place to sign, not a signature
        count += 1
        if len(out) < MAX_DESCRIBED:
            out.append(_pdf_signature(value))
    return count


def _array(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _pdf_signature(value: Any) -> dict[str, str]:
    contents = value.get("/Contents")
    if isinstance(contents, bytes):
        blob = bytes(contents)
    else:
        blob = bytes(getattr(contents, "original_bytes", b""))
    signer = ""
    if blob:
        with contextlib.suppress(ValueError, TypeError):
            signer = _pkcs7_signer(blob)
    sub_filter = value.get("/SubFilter")
    return _compact(
        {
            "kind": "pdf",
            "signer": signer or value.get("/Name"),
            "time": _pdf_date(value["/M"]) if value.get("/M") else None,
            "method": str(sub_filter).lstrip("/") if sub_filter else None,
            "reason": value.get("/Reason"),
            "location": value.get("/Location"),
        }
    )


# -- OFD -------------------------------------------------------------------------------------


def _ofd_facts(path: Path) -> FileFacts:
    try:
        raw = ofd_metadata(path)
    except ExtractionError:
        raw = {}
    renamed = {"creation_date": "created", "mod_date": "modified"}
    metadata = _compact({renamed.get(k, k): v for k, v in raw.items()})

    signatures: list[dict[str, str]] = []
    count = 0
    try:
        package = _Package(path, MAX_SIGNATURE_XML_BYTES)
    except ExtractionError:
        return FileFacts([], metadata, 0)
    try:
        lists: list[str] = []
        with contextlib.suppress(ExtractionError, KeyError):
            ofd = package.xml(package.folded["ofd.xml"])
            for body in _children(ofd, "DocBody"):
                name = package.resolve(_text(_child(body, "Signatures")))
                if name is not None and name not in lists:
                    lists.append(name)
        if not lists:  # producers that forget to name it in OFD.xml
            lists = sorted(n for n in package.sizes if n.lower().endswith("/signatures.xml"))
        for list_name in lists:
            try:
                entries = _children(package.xml(list_name), "Signature")
            except ExtractionError:
                continue
            for entry in entries:
                if count >= MAX_SIGNATURES:
                    break
                count += 1
                if len(signatures) >= MAX_DESCRIBED:
                    continue
                described: dict[str, str] = {"kind": "ofd"}
                kind = (entry.get("Type") or "Seal").strip().lower()
                described["type"] = "sign" if kind == "sign" else "seal"
                loc = package.resolve(entry.get("BaseLoc", ""), posixpath.dirname(list_name))
                if loc is not None:
                    with contextlib.suppress(ExtractionError):
                        described.update(_ofd_signature(package, package.xml(loc), loc))
                signatures.append(described)
    finally:
        package.close()
    return FileFacts(signatures, metadata, count)


def _ofd_time(value: str) -> str:
    """SignatureDateTime as "YYYY-MM-DD HH:MM:SS" (with " UTC" when it says Z): producers
    write 20201010151120, 20200817111329Z, 20201004072855.302Z or 2020-04-22 16:22:44."""
    digits = re.sub(r"\.\d+", "", value.strip())
    utc = digits.endswith("Z")
    digits = re.sub(r"\D", "", digits)
    if len(digits) < 8:
        return _clean(value)
    text = f"{digits[0:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) >= 14:
        text += f" {digits[8:10]}:{digits[10:12]}:{digits[12:14]}"
    return text + (" UTC" if utc else "")


def _ofd_signature(package: Any, root: ElementTree.Element, name: str) -> dict[str, str]:
    info = _child(root, "SignedInfo")
    found: dict[str, Any] = {}
    if info is not None:
        provider = _child(info, "Provider")
        if provider is not None:
            found["provider"] = provider.get("ProviderName") or provider.get("Company")
        method = _text(_child(info, "SignatureMethod"))
        found["method"] = _METHODS.get(method, method)
        found["time"] = _ofd_time(_text(_child(info, "SignatureDateTime")))
    value = package.resolve(_text(_child(root, "SignedValue")), posixpath.dirname(name))
    if value is not None and package.sizes[value] <= MAX_SIGNED_VALUE_BYTES:
        try:
            data = package.zip.read(value)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            data = b""  # a damaged member costs the signer, not the other facts
        found["seal"], found["signer"] = _ses_signature(data)
    return _compact(found)


# -- DER (SES_Signature) ---------------------------------------------------------------------

_SEQUENCE, _OCTET_STRING, _UTF8_STRING = 0x30, 0x04, 0x0C
_MAX_DER_DEPTH = 12
_MAX_DER_NODES = 20_000


def _der_children(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) elements one after another in ``data``; stops at a broken one."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(data) and len(out) < _MAX_DER_NODES:
        tag = data[i]
        if tag & 0x1F == 0x1F:
            break  # multi-byte tags do not occur in these structures
        length = _der_length(data[i:])
        if length is None or i + length > len(data):
            break
        header = 2 + (data[i + 1] & 0x7F if data[i + 1] >= 0x80 else 0)
        out.append((tag, data[i + header : i + length]))
        i += length
    return out


def _first_utf8(data: bytes, depth: int = 0) -> str:
    """The first UTF8String in a depth-first walk of constructed elements."""
    for tag, content in _der_children(data):
        if tag == _UTF8_STRING:
            return content.decode("utf-8", "replace")
        if tag & 0x20 and depth < _MAX_DER_DEPTH:
            found = _first_utf8(content, depth + 1)
            if found:
                return found
    return ""


def _ses_signature(data: bytes) -> tuple[str, str]:
    """(seal name, signer) of an SES_Signature: the seal's name is the first UTF8String (its
    property info's name, in both versions); the signer's certificate is an OCTET STRING
    directly in SES_Signature (GB/T 38540) or in its TBS_Sign (GM/T 0031)."""
    top = _der_children(data)
    if not top or top[0][0] != _SEQUENCE:
        return "", ""
    signature = _der_children(top[0][1])
    if not signature or signature[0][0] != _SEQUENCE:
        return "", ""
    seal = _first_utf8(signature[0][1])
    signer = ""
    for level in (signature, _der_children(signature[0][1])):
        for tag, content in level:
            if tag == _OCTET_STRING and content[:1] == b"\x30":
                signer = _x509_name(content)
                if signer:
                    return seal, signer
    return seal, signer
