"""Whether a reply really comes from the domain in its From: our own boundary's Authentication-Results,
or, where the board's server stamps none, a DKIM signature checked here.

A pass counts only when it is aligned with the From domain: DMARC passed for that very domain, or a
DKIM signature of the same organisational domain (the Public Suffix List decides what that is)
verified. Everything else, including a server that stamped nothing, is not authentic.

Which Authentication-Results are ours: the run of headers at the very top whose authserv-id is the
board's server (`trusted_authserv_id`). A border server adds its own above everything the sender wrote and
must remove (RFC 8601 section 5) headers that claim its name; should one slip through, two of our
headers that disagree on a method are a conflict and nothing passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import authres
import authres.dmarc
import dkim
from publicsuffixlist import PublicSuffixList

from mailbot.mail.message import ParsedMessage

# dkimpy's DNS seam: (name, timeout=seconds) -> the TXT record's bytes, or None. Tests pass a local key.
DnsLookup = Callable[..., bytes | None]

MAX_SIGNATURES = 5         # DKIM-Signature headers tried on one message
MAX_TRUSTED_HEADERS = 10   # our own Authentication-Results headers read on one message
_FEATURES = authres.FeatureContext(authres.dmarc)


@dataclass(frozen=True)
class Verdict:
    authentic: bool
    how: str      # "dmarc", "dkim" (our server's word), "dkim-local" (checked here), "token-only", ""
    reason: str   # in Vietnamese: what was found, for the audit trail and the head's alert

    @property
    def summary(self) -> str:
        return f"{self.how or 'không xác thực'}: {self.reason}"


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """binhphuoc.gov.vn for mx.binhphuoc.gov.vn; the domain itself where the list knows no registrable part."""
    domain = domain.strip().lower()
    return _psl().privatesuffix(domain) or domain


def aligned(signing_domain: str, from_domain: str) -> bool:
    """DMARC relaxed alignment: the same organisational domain (a trailing dot or an empty name never aligns)."""
    a, b = signing_domain.strip().lower(), from_domain.strip().lower()
    if not a or not b or a.endswith(".") or b.endswith("."):
        return False
    return organisational_domain(a) == organisational_domain(b)


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _signature_domains(raw: bytes) -> list[str]:
    """d= of each DKIM-Signature header, top first (read from the raw header block, not verified)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    found = []
    for line in unfolded.splitlines():
        if line[:15].lower() == b"dkim-signature:":
            m = re.search(rb"(?:^|;)\s*d\s*=\s*([^;\s]+)", line[15:])
            found.append(m.group(1).decode("ascii", "replace").lower() if m else "")
    return found


class Authenticator:
    """Judges one message; built once per agency with its settings and the DNS seam."""

    def __init__(self, trusted_authserv_id: str, accept_unauthenticated: bool = False,
                 dns: DnsLookup | None = None, timeout: float = 5):
        self.trusted_id = trusted_authserv_id.strip().lower()
        self.accept_unauthenticated = accept_unauthenticated
        self.dns = dns
        self.timeout = timeout

    def verdict(self, raw: bytes, msg: ParsedMessage) -> Verdict:
        from_domain = _domain_of(msg.from_addr)
        if not from_domain:
            return Verdict(False, "", "thư không có địa chỉ From")
        if self.trusted_id:
            return self._from_our_server(raw, msg, from_domain)
        found = self._dkim_here(raw, from_domain)
        if found.authentic or not self.accept_unauthenticated:
            return found
        return Verdict(True, "token-only", f"{found.reason}; cơ quan cho phép lệnh chỉ với mã "
                                           "(accept_unauthenticated_commands)")

    # -- what our own server said -----------------------------------------------------------

    def _from_our_server(self, raw: bytes, msg: ParsedMessage, from_domain: str) -> Verdict:
        ours = []
        for value in msg.auth_results:  # top first: ours, if any, stand above every other server's
            try:
                header = _FEATURES.parse_value(value)
            except Exception:  # noqa: BLE001 - authres raises its own SyntaxError family
                authserv = value.split(";", 1)[0].strip().split(" ")[0].lower() if value.strip() else ""
                if authserv == self.trusted_id:
                    return Verdict(False, "", f"không đọc được Authentication-Results của {self.trusted_id}")
                break
            if header.authserv_id != self.trusted_id:
                break  # another server's word; anything of "ours" below it was written before our boundary
            ours.append(header)
            if len(ours) > MAX_TRUSTED_HEADERS:
                return Verdict(False, "", f"quá nhiều Authentication-Results mang tên {self.trusted_id}")
        if not ours:
            return Verdict(False, "", f"máy chủ {self.trusted_id} không ghi Authentication-Results vào thư")

        seen: dict[tuple[str, str], str] = {}
        for header in ours:
            for result in header.results:
                method = str(result.method).lower()
                subject = str(getattr(result, "header_from", None) or "") if method == "dmarc" else \
                    str(getattr(result, "header_d", None) or "") if method == "dkim" else ""
                key = (method, subject.lower())
                outcome = str(result.result).lower()
                if seen.setdefault(key, outcome) != outcome:
                    return Verdict(False, "", f"Authentication-Results của {self.trusted_id} mâu thuẫn "
                                              f"({method}={seen[key]} và {method}={outcome})")
        dmarc = {s: r for (m, s), r in seen.items() if m == "dmarc"}
        dkim_results = {s: r for (m, s), r in seen.items() if m == "dkim"}
        if dmarc.get(from_domain) == "fail":  # "none" (no policy published) leaves it to DKIM
            return Verdict(False, "", f"dmarc=fail cho {from_domain}")
        if dmarc.get(from_domain) == "pass":
            return Verdict(True, "dmarc", f"dmarc=pass cho {from_domain} ({self.trusted_id})")
        signed = set(_signature_domains(raw))
        for domain, outcome in dkim_results.items():
            if outcome == "pass" and aligned(domain, from_domain) and domain in signed:
                return Verdict(True, "dkim", f"dkim=pass cho {domain} ({self.trusted_id})")
        told = "; ".join(f"{m}={r}" + (f" ({s})" if s else "") for (m, s), r in seen.items()) or "không có kết quả"
        return Verdict(False, "", f"Authentication-Results của {self.trusted_id} không xác nhận tên miền "
                                  f"{from_domain}: {told}")

    # -- DKIM checked here -------------------------------------------------------------------

    def _dkim_here(self, raw: bytes, from_domain: str) -> Verdict:
        domains = _signature_domains(raw)
        if not domains:
            return Verdict(False, "", "thư không có chữ ký DKIM và máy chủ của Ban không ghi kết quả xác thực")
        notes = []
        for idx, domain in enumerate(domains[:MAX_SIGNATURES]):
            if not aligned(domain, from_domain):
                notes.append(f"chữ ký của {domain or '?'} không cùng tên miền với From ({from_domain})")
                continue
            checker = dkim.DKIM(raw, timeout=self.timeout)
            try:
                ok = checker.verify(idx=idx, dnsfunc=self.dns) if self.dns else checker.verify(idx=idx)
            except dkim.ValidationError:  # dkimpy's word for a body hash that does not match
                ok = False
            except Exception as exc:  # noqa: BLE001 - dkimpy raises for bad keys, bad tags, DNS trouble
                notes.append(f"chữ ký của {domain} không kiểm tra được ({type(exc).__name__})")
                continue
            if not ok:
                notes.append(f"chữ ký của {domain} không khớp nội dung thư")
                continue
            fields = checker.signature_fields or {}
            if b"l" in fields:
                notes.append(f"chữ ký của {domain} chỉ phủ một phần nội dung (l=)")
                continue
            if b"from" not in (checker.include_headers or ()):
                notes.append(f"chữ ký của {domain} không ký dòng From")
                continue
            return Verdict(True, "dkim-local", f"chữ ký DKIM hợp lệ của {domain}")
        return Verdict(False, "", "; ".join(notes))
