"""Digital signatures of PDF files (002 art. 9.1c): present, intact since signing, and made by a certificate
that chains to the agency's trust store and was valid when the document was signed. pyHanko does the work.

`check` is unbounded in time and runs in the child process of mailbot.mail.extraction; `verdict` calls it
there with the agency's time limit. A verdict is a plain dict, stored on the attachment as it is.

Decisions:
- the chain is validated at the signing time the signature states (the signer's own claim, as the README
  says; a timestamp token is not yet used to fix it). With revocation checking
  on, pyHanko can only validate at the present moment, so a certificate that has since expired fails then;
- a document is accepted when at least one signature is fully valid and none is broken: a signature that
  no longer matches the bytes, or whose cryptography fails, means the file was tampered with;
- the only changes allowed after a signature are those pyHanko's default policy allows (further signatures,
  form filling, annotations): anything else is "modified after signing".
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mailbot.config import LimitSettings

log = logging.getLogger("mailbot.signatures")

# Each signature's state, and the document's: the worst of its signatures unless one is valid and none broken.
VALID, UNSIGNED, MODIFIED, UNTRUSTED, EXPIRED, REVOKED, BROKEN, UNREADABLE = (
    "valid", "unsigned", "modified", "untrusted", "expired", "revoked", "broken", "unreadable")

REASONS_VI = {
    UNSIGNED: "tệp không có chữ ký số",
    MODIFIED: "tệp đã bị sửa đổi sau khi ký",
    UNTRUSTED: "người ký dùng chứng thư số không thuộc tổ chức chứng thực mà cơ quan tin cậy",
    EXPIRED: "chứng thư số của người ký đã hết hạn (hoặc chưa có hiệu lực) vào thời điểm ký",
    REVOKED: "chứng thư số của người ký đã bị thu hồi",
    BROKEN: "chữ ký số không còn nguyên vẹn (tệp có dấu hiệu bị can thiệp)",
    UNREADABLE: "không đọc được chữ ký số trong tệp",
}


# Why a document that needs its signed original (filing.original_missing) waits: a signature's state, or
# no PDF at all, or no trust store to check against.
NO_PDF, UNCHECKED = "no_pdf", "unchecked"
ORIGINAL_REASONS_VI = {
    **REASONS_VI,
    NO_PDF: "thư không kèm tệp PDF có chữ ký số",
    UNCHECKED: "cơ quan chưa cấu hình danh sách tổ chức chứng thực tin cậy nên chưa kiểm tra được chữ ký số",
}


def load_trust_store(folder: Path) -> tuple[bytes, ...]:
    """The DER bytes of every certificate (PEM or DER, any number per file) in `folder`, sorted by file name.
    Raises ValueError naming a file that holds none."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    roots: list[bytes] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        data = path.read_bytes()
        try:
            certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [
                x509.load_der_x509_certificate(data)]
        except ValueError as exc:
            raise ValueError(f"{path.name}: không phải chứng thư số (PEM hoặc DER)") from exc
        roots.extend(c.public_bytes(Encoding.DER) for c in certs)
    return tuple(roots)


def _name(cert: Any) -> tuple[str, str]:
    subject = cert.subject.native
    return str(subject.get("common_name", "")), str(subject.get("organization_name", ""))


def _signature_state(status: Any) -> str:
    from pyhanko.sign.diff_analysis import ModificationLevel

    if not status.intact or not status.valid:
        return BROKEN
    if status.docmdp_ok is False or status.modification_level not in (
            ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING):
        return MODIFIED
    if status.revoked:
        return REVOKED
    if status.trusted:
        return VALID
    indication = str(status.trust_problem_indic or "")
    if "OUT_OF_BOUNDS" in indication or "EXPIRED" in indication or "NOT_YET_VALID" in indication:
        return EXPIRED
    return UNTRUSTED


def check(data: bytes, roots: tuple[bytes, ...], revocation: bool = False) -> dict:
    """The verdict on a PDF's signatures: {"state", "signers": [{"name", "organization", "signed_at", "state"}]}."""
    for name in ("pyhanko", "pyhanko_certvalidator"):   # their logs name the signers: personal data
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    try:
        embedded = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception:  # noqa: BLE001 - a PDF pyHanko cannot read: no signature can be shown
        return {"state": UNREADABLE, "signers": []}
    if not embedded:
        return {"state": UNSIGNED, "signers": []}
    trust = [asn1_x509.Certificate.load(r) for r in roots]
    usage = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)
    signers = []
    for sig in embedded:
        signer: dict[str, str] = {"name": "", "organization": "", "signed_at": "", "state": UNREADABLE}
        try:
            cert = sig.signer_cert
            signer["name"], signer["organization"] = _name(cert)
            when = sig.self_reported_timestamp
            moment = when or datetime.now(timezone.utc)
            signer["signed_at"] = moment.isoformat()
            context = ValidationContext(trust_roots=trust, allow_fetching=True, revocation_mode="hard-fail",
                                        best_signature_time=moment) if revocation else \
                ValidationContext(trust_roots=trust, moment=moment)
            signer["state"] = _signature_state(validate_pdf_signature(sig, context, key_usage_settings=usage))
        except Exception:  # noqa: BLE001 - one unreadable signature: the others are still judged
            signer["state"] = signer["state"] if signer["state"] != UNREADABLE else BROKEN
        signers.append(signer)
    states = [s["state"] for s in signers]
    if BROKEN in states:
        state = BROKEN
    elif VALID in states:
        state = VALID
    else:
        order = (MODIFIED, REVOKED, EXPIRED, UNTRUSTED, UNREADABLE)
        state = next(s for s in order if s in states)
    return {"state": state, "signers": signers}


def verdict(data: bytes, roots: tuple[bytes, ...], revocation: bool, limits: LimitSettings) -> dict:
    """`check` in the extraction child, within `limits.signature_seconds`; over it, the verdict says why."""
    from mailbot.mail import extraction

    result = extraction.bounded(check, (data, roots, revocation), limits.signature_seconds, "pdf", len(data))
    if isinstance(result, str):
        return {"state": UNREADABLE, "signers": [], "problem": result}
    return result if isinstance(result, dict) else {"state": UNREADABLE, "signers": []}


def summary_vi(found: dict | None) -> str:
    """One line for the board: "Ký số hợp lệ: Nguyễn Văn A, Sở Tư pháp, 20/11/2026", or why not."""
    if not found:
        return ""
    from mailbot.worktime.calendar import TZ

    def who(s: dict) -> str:
        at = datetime.fromisoformat(s["signed_at"]).astimezone(TZ).strftime("%d/%m/%Y") if s["signed_at"] else ""
        return ", ".join(x for x in (s["name"], s["organization"], at) if x)

    state = found["state"]
    if state == VALID:
        return "Ký số hợp lệ: " + "; ".join(who(s) for s in found["signers"] if s["state"] == VALID)
    reason = found.get("problem") or REASONS_VI.get(state, state)
    named = [who(s) for s in found["signers"] if s["state"] == state]
    return f"Chữ ký số không hợp lệ: {reason}" + (f" ({'; '.join(named)})" if named and any(named) else "")
