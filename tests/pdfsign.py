"""PDFs the suite signs itself, with a test CA it generates (cryptography for the certificates, pyHanko to sign)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.now(timezone.utc)


@dataclass(frozen=True)
class Identity:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common: str, organization: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(subject: x509.Name, key, issuer: Identity | None, ca: bool, start: datetime, end: datetime) -> Identity:
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    return Identity(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


def root_ca(common: str = "Test Root CA chuyên dùng Chính phủ") -> Identity:
    return _issue(_name(common, "Ban Cơ yếu Chính phủ (thử nghiệm)"), ec.generate_private_key(ec.SECP256R1()), None,
                  True, NOW - timedelta(days=3650), NOW + timedelta(days=3650))


def person(ca: Identity, name: str = "Nguyễn Văn A", organization: str = "Sở Tư pháp tỉnh Bình Phước",
           valid_from: timedelta = timedelta(days=-30), valid_to: timedelta = timedelta(days=365)) -> Identity:
    return _issue(_name(name, organization), ec.generate_private_key(ec.SECP256R1()), ca, False,
                  NOW + valid_from, NOW + valid_to)


def pdf(text: str = "QUYET DINH so 15/QD-STP") -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    stream = f"BT /F1 14 Tf 72 770 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def sign(data: bytes, signer: Identity, ca: Identity, field: str = "Signature1") -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigFieldSpec
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def der(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    key = asn1_keys.PrivateKeyInfo.load(signer.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    simple = signers.SimpleSigner(signing_cert=der(signer.cert), signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs([der(ca.cert)]))
    out = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(field_name=field), signer=simple,
                      new_field_spec=SigFieldSpec(field)).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)),
                                                                   output=out)
    return out.getvalue()


def change_after_signing(signed: bytes, text: str = "QUYET DINH so 99/QD-STP") -> bytes:
    """An incremental update that replaces the page's content: what an edit after signing looks like."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(
        stream_data=f"BT /F1 14 Tf 72 770 Td ({text}) Tj ET".encode()))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def break_signature(signed: bytes) -> bytes:
    """The first signature's value altered: its CMS no longer verifies (the bytes it covers are unchanged)."""
    from asn1crypto import cms

    start = signed.index(b"/Contents <") + len(b"/Contents <")
    end = signed.index(b">", start)
    der = bytes.fromhex(signed[start:end].decode())
    info = cms.ContentInfo.load(der.rstrip(b"\x00"))
    value = info["content"]["signer_infos"][0]["signature"].native
    at = der.index(value) + len(value) // 2
    broken = der[:at] + bytes([der[at] ^ 0xFF]) + der[at + 1:]
    return signed[:start] + broken.hex().encode() + signed[end:]


def trust_store(folder: Path, *cas: Identity) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, ca in enumerate(cas, 1):
        (folder / f"root-{number}.pem").write_bytes(ca.pem())
    return folder
