"""Real digitally signed PDFs for tests: a self-signed certificate (``cryptography``), a
signature field added with pypdf, and a detached PKCS#7 (CMS) signature over the file's
byte ranges written into /Contents, the way PDF signing software does it
(ISO 32000-1 §12.8, SubFilter adbe.pkcs7.detached)."""

from __future__ import annotations

import datetime
import io

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

_CONTENTS_BYTES = 8192  # room for the CMS blob (hex-encoded: twice as many characters)
_PLACEHOLDER = [0, 1111111111, 2222222222, 3333333333]


def certificate(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed certificate (and its key) for ``common_name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def sign_pdf(pdf: bytes, common_name: str, *, field_name: str = "Signature1") -> bytes:
    """``pdf`` with one more signed signature field, signed by ``common_name``."""
    cert, key = certificate(common_name)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    value = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Sig"),
            NameObject("/Filter"): NameObject("/Adobe.PPKLite"),
            NameObject("/SubFilter"): NameObject("/adbe.pkcs7.detached"),
            NameObject("/M"): TextStringObject("D:20250301093000+08'00'"),
            NameObject("/ByteRange"): ArrayObject(NumberObject(n) for n in _PLACEHOLDER),
            NameObject("/Contents"): ByteStringObject(b"\x00" * _CONTENTS_BYTES),
        }
    )
    widget = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Sig"),
            NameObject("/T"): TextStringObject(field_name),
            NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4),
            NameObject("/F"): NumberObject(132),
            NameObject("/V"): writer._add_object(value),
            NameObject("/P"): writer.pages[0].indirect_reference,
        }
    )
    widget_ref = writer._add_object(widget)
    page = writer.pages[0]
    annots = page.get("/Annots")
    if annots is None:
        page[NameObject("/Annots")] = ArrayObject([widget_ref])
    else:
        annots.get_object().append(widget_ref)
    root = writer._root_object
    form = root.get("/AcroForm")
    if form is None:
        form = DictionaryObject({NameObject("/Fields"): ArrayObject()})
        root[NameObject("/AcroForm")] = writer._add_object(form)
    form = form.get_object()
    form[NameObject("/SigFlags")] = NumberObject(3)
    form["/Fields"].append(widget_ref)
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()

    placeholder = b"<" + b"00" * _CONTENTS_BYTES + b">"
    start = data.index(placeholder)
    end = start + len(placeholder)
    ranges = [0, start, end, len(data) - end]
    old = ("/ByteRange [ " + " ".join(str(n) for n in _PLACEHOLDER) + " ]").encode()
    new = ("/ByteRange [ " + " ".join(str(n) for n in ranges) + " ]").encode()
    data = data.replace(old, new.ljust(len(old)), 1)
    signed_bytes = data[:start] + data[end:]
    cms = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(signed_bytes)
        .add_signer(cert, key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
    contents = b"<" + cms.hex().encode().ljust(2 * _CONTENTS_BYTES, b"0") + b">"
    return data[:start] + contents + data[end:]
