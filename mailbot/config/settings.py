"""The settings as the rest of mailbot sees them: immutable objects, built by mailbot.config.loading."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from mailbot.config import schema
from mailbot.mail.vntext import fold
from mailbot.worktime.calendar import WorkCalendar

# The names the schema allows, as tuples for the rest of mailbot (one list each, in the schema).
ROLES: tuple[str, ...] = get_args(schema.Role)
CATEGORIES: tuple[str, ...] = get_args(schema.Category)


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Endpoint:
    """A mailbox or an outgoing transport, parsed from its URL."""

    url: str
    scheme: str  # imap, imaps, maildir | smtp, smtps, file
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    path: str = ""
    starttls: bool = False
    # A password may go over a connection without TLS: only to loopback, or where the URL says
    # `?plaintext=1` on purpose. Otherwise imap:// and smtp:// must upgrade with STARTTLS.
    plaintext_ok: bool = False

    def redacted(self) -> str:
        return re.sub(r"//[^@/]*:[^@/]*@", "//***:***@", self.url)


@dataclass(frozen=True)
class Member:
    name: str
    email: str
    role: str


def _in_domains(email: str, domains: tuple[str, ...]) -> bool:
    """The address is in one of `domains` (lower case, no "@"), or in a subdomain of one."""
    domain = email.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


@dataclass(frozen=True)
class Unit:
    name: str
    aliases: tuple[str, ...] = ()
    head: str = ""
    focal_points: tuple[str, ...] = ()
    monthly_quota: int = 0
    preapproval: bool | None = None  # the unit head confirms staff submissions first; None: the agency's setting
    domains: tuple[str, ...] = ()    # mail domains that are this unit's own


@dataclass(frozen=True)
class StaffMember:
    name: str
    email: str
    unit: str = ""
    title: str = ""
    phone: str = ""


@dataclass(frozen=True)
class CategoryRule:
    name: str
    label: str
    tags: tuple[str, ...]
    keywords: tuple[str, ...]
    photos_required: bool = False   # news of an activity must carry photos (001 art. 9.1b)
    signed_original: bool = False   # a digitally signed PDF, or the paper original, is needed (002 art. 9.1c)


@dataclass(frozen=True)
class IntakeSettings:
    max_attachment_bytes: int = 25 * 1024 * 1024
    max_message_bytes: int = 50 * 1024 * 1024
    accepted_types: tuple[str, ...] = ("docx", "doc", "odt", "pdf", "jpg", "png", "gif", "bmp")
    default_category: str = "news"
    outside_senders: str = "accept"
    require_email: bool = False
    admin_address: str = ""
    # Which [agency.deadlines] rule a category's contributors must meet ({news = "event_news"}).
    contribution_rules: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on the work one message may cause. Over one, the message is held or the file quarantined,
    with the reason; nothing is dropped, and nothing runs unbounded."""

    mime_depth: int = 40                  # nested multipart levels
    parts: int = 300                      # MIME leaf parts (text, files) in one message
    header_chars: int = 65_536            # characters of one header field, in any part
    addresses_per_header: int = 1_000     # addresses in one To/Cc/From/Reply-To header
    thread_ids: int = 50                  # References/In-Reply-To ids kept: the first and the newest
    detector_chars: int = 20_000          # characters of text the legacy-font detector looks at
    html_depth: int = 1_000               # nested HTML elements before sanitising
    archive_members: int = 5_000          # entries of a .docx/.xlsx/.odt/.zip
    archive_inflated_bytes: int = 200 * 1024 * 1024   # their total size once decompressed
    archive_ratio: int = 200              # decompressed size over compressed size, per entry and in all
    large_message_bytes: int = 2 * 1024 * 1024   # over it a message is fetched alone, in chunks, to a spool file,
    #                                              and its long base64 runs are decoded outside the parser
    extraction_seconds: float = 20        # text extraction of one file (in a child process)
    extraction_chars: int = 200_000       # characters of text kept from one file
    signature_seconds: float = 20         # checking one PDF's digital signatures (in a child process)
    message_seconds: float = 120          # one message's whole intake; over it (or failing) twice, it is held
    attempts: int = 2                     # tries a message gets before it is held as poison
    answers_per_day: int = 10             # automatic answers to one correspondent in 24 hours
    submissions_per_hour: int = 20        # articles from one sender in an hour that are answered


DEFAULT_LIMITS = LimitSettings()


@dataclass(frozen=True)
class SignatureSettings:
    """PDF digital signatures (002 art. 9.1c): checked against `roots` (the trust store's certificates, DER)
    when a trust store is configured."""

    trust_store: str = ""                 # the folder, as configured
    roots: tuple[bytes, ...] = ()
    revocation: bool = False              # OCSP/CRL over the network (off: the machine may have none)

    @property
    def enabled(self) -> bool:
        return bool(self.trust_store)


@dataclass(frozen=True)
class Step:
    """One review step: who may decide at it, and how long they have."""

    name: str
    label: str
    roles: tuple[str, ...]
    deadline: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowSettings:
    steps: tuple[Step, ...] = (Step("review", "Thẩm định", ("member", "deputy_head", "head")),
                               Step("approve", "Phê duyệt", ("head",)))
    unit_preapproval: bool = False       # 001 art. 18.2: the unit head confirms staff submissions first
    outside_confirmation: bool = False   # 004 art. 10.1a: outside senders need their unit leader's confirmation
    publish_on_approval: bool = False    # 004 art. 10.3a: published right after approval
    token_days: int = 14                 # how long a notification's command token stays valid
    undo_minutes: int = 15               # HOÀN TÁC / UNDO window
    reply_to_token: bool = False         # Reply-To: board+TOKEN@domain (needs plus-addressing on the server)
    trusted_authserv_id: str = ""        # Authentication-Results id stamped by the board's own server
    # Without a trusted server, commands need a DKIM signature aligned with the sender's domain, checked
    # here; true accepts a command on its token alone when none verifies (`mailbot check` warns).
    accept_unauthenticated_commands: bool = False

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def next_step(self, name: str) -> Step | None:
        names = [s.name for s in self.steps]
        i = names.index(name)
        return self.steps[i + 1] if i + 1 < len(self.steps) else None


@dataclass(frozen=True)
class ReminderSettings:
    before_hours: float = 4          # one reminder this many hours before a deadline
    escalate_after_days: int = 1     # working days overdue before the deputy head, then the head, are told
    sweep_minutes: int = 15          # how often the daemon looks


@dataclass(frozen=True)
class QuestionSettings:
    """Citizens' questions and feedback (002 art. 11.2-11.5)."""

    address: str = ""                # a Q&A address that delivers into the same mailbox (an alias)
    reference_prefix: str = "HD"     # HD-2026-0001
    # The board's review of a unit's answer, with the article commands; one step by default.
    steps: tuple[Step, ...] = (Step("approve", "Duyệt câu trả lời", ("head", "deputy_head")),)
    acks_per_day: int = 3            # acknowledgements to one sender in 24 hours; more are filed silently
    answer_rule: str = "citizen_answer"                # names in [agency.deadlines]
    extended_rule: str = "citizen_answer_consulted"
    feedback_rule: str = "unit_feedback_response"


@dataclass(frozen=True)
class PeriodicReport:
    """A report units owe every period ("monthly_report": first 7 days of the next month)."""

    name: str
    label: str
    rule: str        # a first_days_of_next rule in [agency.deadlines]


@dataclass(frozen=True)
class ScheduleSettings:
    """Digests, reports and quota mail: when they go and what they count."""

    digest_weekday: int = 0                  # Monday
    digest_time: time = time(7, 30)
    report_time: time = time(7, 30)          # on the first working day of the month
    report_recipients: tuple[str, ...] = ()  # besides the head, deputy head and director
    quota_basis: str = "received"            # count what units sent, or what was "published"
    unit_quota: int = 0                      # items a unit owes each month, unless the unit says otherwise
    staff_quota: dict[str, int] = field(default_factory=dict)   # per staff member: {"news": 1, "article": 1}
    nudge_day: int = 15                      # mid-month nudge to those behind
    summary_time: time = time(14, 0)         # month-end summary on the last working day
    periodic_reports: tuple[PeriodicReport, ...] = ()


WEEKDAYS: tuple[str, ...] = get_args(schema.Weekday)
QUOTA_BASES: tuple[str, ...] = get_args(schema.QuotaBasis)


@dataclass(frozen=True)
class Agency:
    slug: str
    name: str
    website: str
    board_address: str
    mailbox: Endpoint
    outgoing: Endpoint
    reference_prefix: str
    message_id_domain: str
    members: tuple[Member, ...] = ()
    units: tuple[Unit, ...] = ()
    staff: tuple[StaffMember, ...] = ()
    accepted_domains: tuple[str, ...] = ()
    categories: tuple[CategoryRule, ...] = ()
    intake: IntakeSettings = IntakeSettings()
    limits: LimitSettings = LimitSettings()
    signatures: SignatureSettings = SignatureSettings()
    workflow: WorkflowSettings = WorkflowSettings()
    calendar: WorkCalendar = WorkCalendar()
    reminders: ReminderSettings = ReminderSettings()
    questions: QuestionSettings = QuestionSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    # Deadline rules by name ({working_days = 15}, {office_hours = 12} ...), checked against the calendar.
    deadlines: dict[str, Any] = field(default_factory=dict)

    def unit_named(self, text: str) -> Unit | None:
        """A unit by its name, an alias or abbreviation, or a distinctive part of its name; accents and case ignored."""
        wanted = fold(text.split("\n")[0]).strip(" .:")
        if not wanted:
            return None
        for unit in self.units:
            if wanted in (fold(unit.name), *(fold(a) for a in unit.aliases)):
                return unit
        partial = [u for u in self.units if len(wanted) > 3 and wanted in fold(u.name)]
        return partial[0] if len(partial) == 1 else None

    def unit_by_domain(self, email: str) -> Unit | None:
        """The unit whose own mail domain (units[].domains, subdomains included) the address is in."""
        return next((u for u in self.units if _in_domains(email, u.domains)), None)

    def unit_of_author(self, written: str, email: str) -> Unit | None:
        """The configured unit a person belongs to: the one their written unit names, else their staff directory
        entry's, else the one whose mail domain their address is in."""
        staff = self.staff_by_email(email)
        for text in (written, staff.unit if staff else ""):
            unit = self.unit_named(text) if text else None
            if unit:
                return unit
        return self.unit_by_domain(email)

    def members_with(self, role: str) -> list[Member]:
        return [m for m in self.members if m.role == role]

    def member_by_email(self, email: str) -> Member | None:
        email = email.lower()
        return next((m for m in self.members if m.email.lower() == email), None)

    def staff_by_email(self, email: str) -> StaffMember | None:
        email = email.lower()
        return next((s for s in self.staff if s.email.lower() == email), None)

    def is_accepted_domain(self, email: str) -> bool:
        return _in_domains(email, self.accepted_domains)

    def own_addresses(self) -> set[str]:
        """Addresses mail from which must never be answered (our own: loops)."""
        addrs = {self.board_address.lower()}
        if self.mailbox.username and "@" in self.mailbox.username:
            addrs.add(self.mailbox.username.lower())
        if self.questions.address:
            addrs.add(self.questions.address.lower())
        return addrs


@dataclass(frozen=True)
class DeliverySettings:
    """How the outbox sends: waits between attempts (given up after the last), rows per claim, how long a
    claim keeps other processes off, the SMTP timeout, and how often the administrator hears of failures."""

    retry_minutes: tuple[float, ...] = (1, 5, 30, 120, 360, 360, 360, 360)
    batch: int = 50
    claim_minutes: float = 10
    smtp_timeout_seconds: float = 60
    alert_every_minutes: float = 60


@dataclass(frozen=True)
class ServiceSettings:
    """The daemon: how long a mailbox's lease lasts unrenewed, the longest wait between database retries."""

    lease_seconds: float = 45
    database_retry_max_seconds: float = 60
    log_format: str = "text"              # or "json": one object per line
    metrics: str = ""                     # HOST:PORT serving Prometheus text at /metrics; "" serves none
    mailbox_stale_seconds: float = 600    # `health` fails when the mailbox held here was not read for this long
    outbox_stuck_minutes: float = 60      # ... or when mail has been retrying for longer than this
    slow_pass_seconds: float = 5          # a pass of the mailbox longer than this is logged as a warning (stalls)


@dataclass(frozen=True)
class Settings:
    source: Path
    database_url: str
    storage_dir: Path
    agencies: tuple[Agency, ...]
    delivery: DeliverySettings = DeliverySettings()
    service: ServiceSettings = ServiceSettings()

    def agency(self, slug: str) -> Agency:
        for agency in self.agencies:
            if agency.slug == slug:
                return agency
        raise KeyError(slug)




def warnings(agency: Agency) -> list[str]:
    """What loads but weakens a safeguard: `mailbot check` prints these, and `run` logs them."""
    out = []
    wf = agency.workflow
    if wf.accept_unauthenticated_commands and not wf.trusted_authserv_id:
        out.append("workflow.accept_unauthenticated_commands = true: a reply command is accepted on its token "
                   "alone when no DKIM signature of the sender's domain verifies; anyone who sees a notification "
                   "and can forge its member's From address can decide")
    if wf.accept_unauthenticated_commands and wf.trusted_authserv_id:
        out.append("workflow.accept_unauthenticated_commands is ignored: trusted_authserv_id is set, and its "
                   "Authentication-Results decide")
    for name, endpoint in (("mailbox", agency.mailbox), ("outgoing", agency.outgoing)):
        if endpoint.scheme in ("imap", "smtp") and endpoint.password and endpoint.plaintext_ok \
                and not is_loopback(endpoint.host):
            out.append(f"{name}: ?plaintext=1 lets the password go to {endpoint.host} without TLS")
    return out


def parse_endpoint(url: str, kinds: tuple[str, ...], base: Path) -> Endpoint:
    """Parse a mailbox or outgoing URL; raise ValueError with a reader-facing reason."""
    if ":" not in url:
        raise ValueError(f"{url!r} is not a URL; expected one of {', '.join(k + ':' for k in kinds)}")
    scheme = url.split(":", 1)[0].lower()
    if scheme not in kinds:
        raise ValueError(f"scheme {scheme!r} is not supported here; use one of {', '.join(kinds)}")
    if scheme in ("maildir", "file"):
        raw = url.split(":", 1)[1]
        if raw.startswith("//"):
            raw = raw[2:]
        if not raw:
            raise ValueError("needs a path, e.g. maildir:storage/inbox")
        path = Path(raw)
        return Endpoint(url=url, scheme=scheme, path=str(path if path.is_absolute() else base / path))
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("needs a host, e.g. imaps://user@mail.example.gov.vn/INBOX")
    default_port = {"imap": 143, "imaps": 993, "smtp": 25, "smtps": 465}[scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"starttls", "plaintext"})
    if unknown:
        raise ValueError(f"unknown URL option {unknown[0]!r}; known: starttls, plaintext")
    starttls = query.get("starttls", ["0" if scheme in ("imaps", "smtps") else "auto"])[0].lower()
    plaintext = query.get("plaintext", ["0"])[0].lower()
    for option, value in (("starttls", starttls), ("plaintext", plaintext)):
        if value not in _YES + _NO + ("auto",) or option == "plaintext" and value == "auto":
            raise ValueError(f"{option}={value!r}: use 1 or 0")
    plaintext_ok = plaintext in _YES or is_loopback(parts.hostname)
    if scheme in ("imap", "smtp") and starttls in _NO and not plaintext_ok and (parts.username or parts.password):
        raise ValueError(f"{scheme}:// without STARTTLS would send the password in clear to {parts.hostname}; "
                         f"use {scheme}s://, keep STARTTLS, or add ?plaintext=1 if that is really wanted")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return Endpoint(
        url=url, scheme=scheme, host=parts.hostname, port=port,
        username=unquote(parts.username or ""), password=unquote(parts.password or ""),
        folder=folder, starttls=starttls not in _NO and scheme in ("imap", "smtp"), plaintext_ok=plaintext_ok,
    )


_YES, _NO = ("1", "true", "yes"), ("0", "false", "no")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: a password sent there never leaves the machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
