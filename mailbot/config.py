"""Settings: one TOML file (plus presets and a staff CSV) read into immutable objects, every problem reported at once."""

from __future__ import annotations

import csv
import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mailbot.mail.vntext import fold
from mailbot.paths import presets_dir
from mailbot.worktime.calendar import CLOCK_KINDS, TZ, WorkCalendar

ROLES = ("head", "deputy_head", "member", "secretary", "director")
CATEGORIES = ("news", "article", "document", "statistics", "report", "photos")
OUTSIDE_SENDER_POLICIES = ("accept", "hold")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


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


@dataclass(frozen=True)
class Unit:
    name: str
    aliases: tuple[str, ...] = ()
    head: str = ""
    focal_points: tuple[str, ...] = ()
    monthly_quota: int = 0
    preapproval: bool | None = None  # the unit head confirms staff submissions first; None: the agency's setting


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


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
QUOTA_BASES = ("received", "published")


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

    def members_with(self, role: str) -> list[Member]:
        return [m for m in self.members if m.role == role]

    def member_by_email(self, email: str) -> Member | None:
        email = email.lower()
        return next((m for m in self.members if m.email.lower() == email), None)

    def staff_by_email(self, email: str) -> StaffMember | None:
        email = email.lower()
        return next((s for s in self.staff if s.email.lower() == email), None)

    def is_accepted_domain(self, email: str) -> bool:
        domain = email.rpartition("@")[2].lower()
        return any(domain == d or domain.endswith("." + d) for d in self.accepted_domains)

    def own_addresses(self) -> set[str]:
        """Addresses mail from which must never be answered (our own: loops)."""
        addrs = {self.board_address.lower()}
        if self.mailbox.username and "@" in self.mailbox.username:
            addrs.add(self.mailbox.username.lower())
        return addrs


@dataclass(frozen=True)
class Settings:
    source: Path
    database_url: str
    storage_dir: Path
    agencies: tuple[Agency, ...]

    def agency(self, slug: str) -> Agency:
        for agency in self.agencies:
            if agency.slug == slug:
                return agency
        raise KeyError(slug)


class _Reader:
    """Reads typed values out of nested dicts, recording problems instead of raising.

    It remembers every key each table was asked for, so that `unknown_keys` can name, at any depth,
    a key nothing reads: a misspelt `trusted_authserv_di` must fail loudly, not switch a check off.
    """

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []
        self._asked: dict[int, tuple[dict, str, set[str]]] = {}   # id(table) -> (table, path, keys asked)
        self._free: set[int] = set()                                # tables whose keys are names, not settings

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, key, message))

    def watch(self, table: dict, path: str) -> None:
        self._asked.setdefault(id(table), (table, path, set()))

    def free(self, table: Any) -> Any:
        """A table whose keys are the user's own names (deadline rules, days off, categories' map)."""
        if isinstance(table, dict):
            self._free.add(id(table))
        return table

    def unknown_keys(self) -> None:
        for table_id, (table, path, asked) in self._asked.items():
            if table_id in self._free:
                continue
            for key in table:
                if key not in asked:
                    close = difflib.get_close_matches(key, sorted(asked), n=1, cutoff=0.6)
                    hint = f"; did you mean {close[0]!r}?" if close else f"; known here: {', '.join(sorted(asked))}"
                    self.problem(f"{path}.{key}" if path else key, "unknown setting" + hint)

    def get(self, table: dict, key: str, path: str, kind: type | tuple, default: Any = None,
            required: bool = False) -> Any:
        full = f"{path}.{key}" if path else key
        self.watch(table, path)
        self._asked[id(table)][2].add(key)
        if key not in table:
            if required:
                self.problem(full, "is required")
            return default
        value = table[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problem(full, f"must be a {names}, not {type(value).__name__} ({value!r})")
            return default
        if isinstance(value, dict):
            self.watch(value, full)
        return value

    def tables(self, table: dict, key: str, path: str, fields: str) -> Iterator[tuple[dict, str]]:
        """Each table of an array of tables (`[[agency.members]]`), with its path; other items are problems."""
        for i, item in enumerate(self.get(table, key, path, list, [])):
            item_path = f"{path}.{key}[{i}]"
            if isinstance(item, dict):
                self.watch(item, item_path)
                yield item, item_path
            else:
                self.problem(item_path, f"must be a table with {fields}")

    def email(self, table: dict, key: str, path: str, required: bool = True) -> str:
        value = self.get(table, key, path, str, "", required)
        if value and not _EMAIL_RE.match(value):
            self.problem(f"{path}.{key}", f"{value!r} is not an email address")
        return value.strip().lower() if value else ""


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


def _merge(base: dict, over: dict) -> dict:
    """Deep-merge tables; the agency's own values win, lists replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_toml(path: Path, reader: _Reader, key: str) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        reader.problem(key, f"file {path} does not exist")
    except tomllib.TOMLDecodeError as exc:
        reader.problem(key, f"{path} is not valid TOML: {exc}")
    return {}


def load_staff_csv(path: Path, reader: _Reader, key: str) -> list[StaffMember]:
    """Staff directory CSV: header row with name, unit, title, phone, email (Vietnamese headers accepted)."""
    aliases = {
        "name": ("name", "họ tên", "họ và tên", "ho ten"),
        "unit": ("unit", "đơn vị", "don vi"),
        "title": ("title", "chức vụ", "chức danh", "chuc vu"),
        "phone": ("phone", "điện thoại", "sđt", "dien thoai"),
        "email": ("email", "e-mail", "thư điện tử"),
    }
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reader.problem(key, f"cannot read staff CSV {path}: {exc}")
        return []
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    index: dict[str, int] = {}
    for field_name, names in aliases.items():
        for i, h in enumerate(header):
            if h in names:
                index[field_name] = i
    for needed in ("name", "email"):
        if needed not in index:
            reader.problem(key, f"{path}: header has no {needed!r} column (found {rows[0]})")
            return []
    staff = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        value = {f: (row[i].strip() if i < len(row) else "") for f, i in index.items()}
        if not _EMAIL_RE.match(value["email"]):
            reader.problem(key, f"{path} line {line_no}: {value['email']!r} is not an email address")
            continue
        staff.append(StaffMember(name=value["name"], email=value["email"].lower(), unit=value.get("unit", ""),
                                 title=value.get("title", ""), phone=value.get("phone", "")))
    return staff


def _read_agency(raw: dict, path: str, r: _Reader, base: Path, env: Any) -> Agency | None:
    # Layers: the common defaults, then the named preset, then the agency's own table.
    common = presets_dir() / "_common.toml"
    base_raw = _load_toml(common, r, "(presets)").get("agency", {}) if common.exists() else {}
    preset_name = r.get(raw, "preset", path, str)
    if preset_name:
        preset_file = presets_dir() / f"{preset_name}.toml"
        if preset_name.startswith("_") or not preset_file.exists():
            known = sorted(p.stem for p in presets_dir().glob("*.toml") if not p.stem.startswith("_"))
            r.problem(f"{path}.preset", f"no preset {preset_name!r}; known: {', '.join(known)}")
        else:
            base_raw = _merge(base_raw, _load_toml(preset_file, r, f"{path}.preset").get("agency", {}))
    r.free(raw)  # read as merged with its presets below: unknown keys are named there, with the same path
    raw = _merge(base_raw, raw)
    r.get(raw, "preset", path, str)

    slug = r.get(raw, "slug", path, str, "", required=True)
    if slug and not _SLUG_RE.match(slug):
        r.problem(f"{path}.slug", f"{slug!r} must be lowercase letters, digits and dashes")
    name = r.get(raw, "name", path, str, "", required=True)
    website = r.get(raw, "website", path, str, "")
    board = r.email(raw, "board_address", path)
    prefix = r.get(raw, "reference_prefix", path, str, "BBT")
    if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", prefix or ""):
        r.problem(f"{path}.reference_prefix", f"{prefix!r} must be 1-10 capital letters or digits")

    endpoints = {}
    for key, kinds, secret_key in (("mailbox", ("imap", "imaps", "maildir"), "mailbox_password_env"),
                                   ("outgoing", ("smtp", "smtps", "file"), "outgoing_password_env")):
        url = r.get(raw, key, path, str, "", required=True)
        endpoint = None
        if url:
            try:
                endpoint = parse_endpoint(url, kinds, base)
            except ValueError as exc:
                r.problem(f"{path}.{key}", str(exc))
        env_name = r.get(raw, secret_key, path, str, "")
        if endpoint and env_name:
            if env_name in env:
                endpoint = Endpoint(**{**endpoint.__dict__, "password": env[env_name]})
            else:
                r.problem(f"{path}.{secret_key}", f"environment variable {env_name} is not set")
        endpoints[key] = endpoint

    members = []
    for m, mpath in r.tables(raw, "members", path, "name, email, role"):
        role = r.get(m, "role", mpath, str, "", required=True)
        if role and role not in ROLES:
            r.problem(f"{mpath}.role", f"{role!r} is not one of {', '.join(ROLES)}")
        members.append(Member(name=r.get(m, "name", mpath, str, "", required=True),
                              email=r.email(m, "email", mpath), role=role))

    units = []
    for u, upath in r.tables(raw, "units", path, "name, aliases, head, focal_points, monthly_quota"):
        quota = r.get(u, "monthly_quota", upath, int, 0)
        if quota < 0:
            r.problem(f"{upath}.monthly_quota", "must not be negative")
        units.append(Unit(
            name=r.get(u, "name", upath, str, "", required=True),
            aliases=tuple(r.get(u, "aliases", upath, list, [])),
            head=r.email(u, "head", upath, required=False),
            focal_points=tuple(x.lower() for x in r.get(u, "focal_points", upath, list, []) if isinstance(x, str)),
            monthly_quota=quota,
            preapproval=r.get(u, "preapproval", upath, bool, None),
        ))

    staff = []
    for s, spath in r.tables(raw, "staff", path, "name, email, unit, title, phone"):
        staff.append(StaffMember(
            name=r.get(s, "name", spath, str, "", required=True), email=r.email(s, "email", spath),
            unit=r.get(s, "unit", spath, str, ""), title=r.get(s, "title", spath, str, ""),
            phone=r.get(s, "phone", spath, str, "")))
    staff_csv = r.get(raw, "staff_csv", path, str)
    if staff_csv:
        csv_path = Path(staff_csv) if Path(staff_csv).is_absolute() else base / staff_csv
        staff.extend(load_staff_csv(csv_path, r, f"{path}.staff_csv"))

    domains = tuple(d.lower().lstrip("@") for d in r.get(raw, "accepted_domains", path, list, []))

    categories = []
    for cname, c in r.free(r.get(raw, "categories", path, dict, {})).items():
        cpath = f"{path}.categories.{cname}"
        if cname not in CATEGORIES:
            r.problem(cpath, f"unknown category; use one of {', '.join(CATEGORIES)}")
            continue
        if not isinstance(c, dict):
            r.problem(cpath, "must be a table with label, tags, keywords")
            continue
        categories.append(CategoryRule(cname, r.get(c, "label", cpath, str, cname),
                                       tuple(r.get(c, "tags", cpath, list, [])),
                                       tuple(r.get(c, "keywords", cpath, list, []))))

    intake_raw = r.get(raw, "intake", path, dict, {})
    ipath = f"{path}.intake"
    intake = IntakeSettings(
        max_attachment_bytes=int(r.get(intake_raw, "max_attachment_mb", ipath, (int, float), 25) * 1024 * 1024),
        max_message_bytes=int(r.get(intake_raw, "max_message_mb", ipath, (int, float), 50) * 1024 * 1024),
        accepted_types=tuple(r.get(intake_raw, "accepted_types", ipath, list, list(IntakeSettings.accepted_types))),
        default_category=r.get(intake_raw, "default_category", ipath, str, "news"),
        outside_senders=r.get(intake_raw, "outside_senders", ipath, str, "accept"),
        require_email=r.get(intake_raw, "require_email", ipath, bool, False),
        admin_address=r.email(intake_raw, "admin_address", ipath, required=False),
        contribution_rules=r.free(r.get(intake_raw, "contribution_rules", ipath, dict, {})),
    )
    if intake.default_category not in CATEGORIES:
        r.problem(f"{ipath}.default_category", f"{intake.default_category!r} is not one of {', '.join(CATEGORIES)}")
    if intake.outside_senders not in OUTSIDE_SENDER_POLICIES:
        r.problem(f"{ipath}.outside_senders", f"must be one of {', '.join(OUTSIDE_SENDER_POLICIES)}")
    unknown_types = set(intake.accepted_types) - set(KNOWN_TYPES)
    if unknown_types:
        r.problem(f"{ipath}.accepted_types", f"unknown types {sorted(unknown_types)}; known: {', '.join(KNOWN_TYPES)}")

    workflow = _read_workflow(r.get(raw, "workflow", path, dict, {}), f"{path}.workflow", r)
    rem_raw, rem_path = r.get(raw, "reminders", path, dict, {}), f"{path}.reminders"
    reminders = ReminderSettings(
        before_hours=float(r.get(rem_raw, "before_hours", rem_path, (int, float), ReminderSettings.before_hours)),
        escalate_after_days=r.get(rem_raw, "escalate_after_days", rem_path, int, ReminderSettings.escalate_after_days),
        sweep_minutes=r.get(rem_raw, "sweep_minutes", rem_path, int, ReminderSettings.sweep_minutes))
    calendar = _read_calendar(r.get(raw, "calendar", path, dict, {}), f"{path}.calendar", r)
    deadlines = r.free(r.get(raw, "deadlines", path, dict, {}))
    for cname, rule_name in intake.contribution_rules.items():
        if cname not in CATEGORIES or not isinstance(rule_name, str):
            r.problem(f"{ipath}.contribution_rules.{cname}", f"needs a category ({', '.join(CATEGORIES)}) "
                                                             "and the name of a rule in [agency.deadlines]")
        elif not isinstance(deadlines.get(rule_name), dict):
            r.problem(f"{ipath}.contribution_rules.{cname}", f"{rule_name!r} is not a rule in [agency.deadlines]")
    questions = _read_questions(r.get(raw, "questions", path, dict, {}), f"{path}.questions", r, deadlines)
    schedule = _read_schedule(raw, path, r, deadlines)
    rules = {**deadlines, **{f"workflow.steps.{st.name}.deadline": st.deadline for st in workflow.steps if st.deadline}}
    for rule_name, rule in rules.items():
        key = rule_name if rule_name.startswith("workflow.") else f"deadlines.{rule_name}"
        try:
            calendar.deadline(rule if isinstance(rule, dict) else {}, datetime(2026, 1, 5, 8, 0, tzinfo=TZ))
        except (ValueError, TypeError, KeyError) as exc:
            r.problem(f"{path}.{key}", f"not a deadline rule: {exc}")
            continue
        for extra in sorted(set(rule) - {*CLOCK_KINDS, "period"} if isinstance(rule, dict) else ()):
            close = difflib.get_close_matches(extra, [*CLOCK_KINDS, "period"], n=1, cutoff=0.6)
            r.problem(f"{path}.{key}.{extra}", "unknown setting" + (f"; did you mean {close[0]!r}?" if close else
                                                                    f"; use one of {', '.join(CLOCK_KINDS)}"))

    mailbox, outgoing = endpoints["mailbox"], endpoints["outgoing"]
    if mailbox is None or outgoing is None or not board:
        return None
    mid_domain = r.get(raw, "message_id_domain", path, str, "") or board.rpartition("@")[2]
    return Agency(
        slug=slug, name=name, website=website, board_address=board,
        mailbox=mailbox, outgoing=outgoing, reference_prefix=prefix,
        message_id_domain=mid_domain, members=tuple(members), units=tuple(units), staff=tuple(staff),
        accepted_domains=domains, categories=tuple(categories), intake=intake,
        calendar=calendar, deadlines=deadlines, workflow=workflow, reminders=reminders, questions=questions,
        schedule=schedule,
    )


def _read_calendar(raw: dict, path: str, r: _Reader) -> WorkCalendar:
    """Office hours as [["07:30", "11:30"], ...]; days_off / working_days as {"2026-12-31" = "why"}."""
    def clock(value: Any, key: str) -> time | None:
        try:
            return time.fromisoformat(value)
        except (TypeError, ValueError):
            r.problem(key, f"{value!r} is not a time like \"07:30\"")
            return None

    hours = []
    for i, pair in enumerate(r.get(raw, "office_hours", path, list, [])):
        key = f"{path}.office_hours[{i}]"
        if not (isinstance(pair, list) and len(pair) == 2):
            r.problem(key, "must be a pair like [\"07:30\", \"11:30\"]")
            continue
        begin, end = clock(pair[0], key), clock(pair[1], key)
        if begin and end and begin >= end:
            r.problem(key, "opens after it closes")
        elif begin and end:
            hours.append((begin, end))
    days: dict[str, dict[date, str]] = {}
    for name in ("days_off", "working_days"):
        days[name] = {}
        for day, why in r.free(r.get(raw, name, path, dict, {})).items():
            try:
                days[name][date.fromisoformat(day)] = str(why)
            except ValueError:
                r.problem(f"{path}.{name}", f"{day!r} is not a date like \"2026-12-31\"")
    return WorkCalendar(office_hours=tuple(sorted(hours)) or WorkCalendar.office_hours,
                        days_off=days["days_off"], working_days=days["working_days"])


def _read_schedule(raw: dict, path: str, r: _Reader, deadlines: dict) -> ScheduleSettings:
    """[agency.digest], [agency.report], [agency.quotas] and [[agency.periodic_reports]]."""
    d = ScheduleSettings()

    def clock(table: dict, key: str, tpath: str, default: time) -> time:
        value = r.get(table, key, tpath, str, None)
        if value is None:
            return default
        try:
            return time.fromisoformat(value)
        except ValueError:
            r.problem(f"{tpath}.{key}", f"{value!r} is not a time like \"07:30\"")
            return default

    digest, dpath = r.get(raw, "digest", path, dict, {}), f"{path}.digest"
    weekday = r.get(digest, "weekday", dpath, str, WEEKDAYS[d.digest_weekday]).lower()
    if weekday not in WEEKDAYS:
        r.problem(f"{dpath}.weekday", f"must be one of {', '.join(WEEKDAYS)}")
        weekday = "monday"
    report, rpath = r.get(raw, "report", path, dict, {}), f"{path}.report"
    recipients = r.get(report, "recipients", rpath, list, [])
    for x in recipients:
        if not isinstance(x, str) or not _EMAIL_RE.match(x):
            r.problem(f"{rpath}.recipients", f"{x!r} is not an email address")
    quotas, qpath = r.get(raw, "quotas", path, dict, {}), f"{path}.quotas"
    basis = r.get(quotas, "basis", qpath, str, d.quota_basis)
    if basis not in QUOTA_BASES:
        r.problem(f"{qpath}.basis", f"must be one of {', '.join(QUOTA_BASES)}")
    staff_quota = r.free(r.get(quotas, "staff_monthly", qpath, dict, {}))
    for category, n in staff_quota.items():
        if category not in CATEGORIES or not isinstance(n, int) or n < 0:
            r.problem(f"{qpath}.staff_monthly.{category}", f"needs a category ({', '.join(CATEGORIES)}) and a count")
    nudge_day = r.get(quotas, "nudge_day", qpath, int, d.nudge_day)
    if not 1 <= nudge_day <= 28:
        r.problem(f"{qpath}.nudge_day", "must be a day from 1 to 28")
    reports = []
    for item, ipath in r.tables(raw, "periodic_reports", path, "name, label, rule"):
        rule_name = r.get(item, "rule", ipath, str, "", required=True)
        rule = deadlines.get(rule_name)
        if rule_name and not (isinstance(rule, dict) and "first_days_of_next" in rule):
            r.problem(f"{ipath}.rule", f"{rule_name!r} must name a first_days_of_next rule in [agency.deadlines]")
        reports.append(PeriodicReport(r.get(item, "name", ipath, str, rule_name), r.get(item, "label", ipath, str,
                                                                                         rule_name), rule_name))
    return ScheduleSettings(
        digest_weekday=WEEKDAYS.index(weekday), digest_time=clock(digest, "time", dpath, d.digest_time),
        report_time=clock(report, "time", rpath, d.report_time),
        report_recipients=tuple(x.lower() for x in recipients if isinstance(x, str)),
        quota_basis=basis, unit_quota=r.get(quotas, "unit_monthly", qpath, int, d.unit_quota),
        staff_quota={k: v for k, v in staff_quota.items() if isinstance(v, int)}, nudge_day=nudge_day,
        summary_time=clock(quotas, "summary_time", qpath, d.summary_time), periodic_reports=tuple(reports))


def _read_questions(raw: dict, path: str, r: _Reader, deadlines: dict) -> QuestionSettings:
    defaults = QuestionSettings()
    prefix = r.get(raw, "reference_prefix", path, str, defaults.reference_prefix)
    if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", prefix or ""):
        r.problem(f"{path}.reference_prefix", f"{prefix!r} must be 1-10 capital letters or digits")
    rules = {}
    for key in ("answer_rule", "extended_rule", "feedback_rule"):
        rules[key] = r.get(raw, key, path, str, getattr(defaults, key))
        if not isinstance(deadlines.get(rules[key]), dict):
            r.problem(f"{path}.{key}", f"names {rules[key]!r}, which is not a rule in [agency.deadlines]")
    return QuestionSettings(
        address=r.email(raw, "address", path, required=False), reference_prefix=prefix,
        steps=_read_steps(raw, path, r) or defaults.steps,
        acks_per_day=r.get(raw, "acks_per_day", path, int, defaults.acks_per_day), **rules)


def _read_steps(raw: dict, path: str, r: _Reader) -> tuple[Step, ...]:
    steps = []
    for st, spath in r.tables(raw, "steps", path, "name, label, roles"):
        name = r.get(st, "name", spath, str, "", required=True)
        roles = tuple(r.get(st, "roles", spath, list, []))
        bad = [x for x in roles if x not in ROLES]
        if bad or not roles:
            r.problem(f"{spath}.roles", f"needs roles from {', '.join(ROLES)} (got {list(roles)})")
        steps.append(Step(name=name, label=r.get(st, "label", spath, str, name), roles=roles,
                          deadline=r.free(r.get(st, "deadline", spath, dict, {}))))
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        r.problem(f"{path}.steps", "step names must differ")
    return tuple(steps)


def _read_workflow(raw: dict, path: str, r: _Reader) -> WorkflowSettings:
    defaults = WorkflowSettings()
    return WorkflowSettings(
        steps=_read_steps(raw, path, r) or defaults.steps,
        unit_preapproval=r.get(raw, "unit_preapproval", path, bool, False),
        outside_confirmation=r.get(raw, "outside_confirmation", path, bool, False),
        publish_on_approval=r.get(raw, "publish_on_approval", path, bool, False),
        token_days=r.get(raw, "token_days", path, int, defaults.token_days),
        undo_minutes=r.get(raw, "undo_minutes", path, int, defaults.undo_minutes),
        reply_to_token=r.get(raw, "reply_to_token", path, bool, False),
        trusted_authserv_id=r.get(raw, "trusted_authserv_id", path, str, ""),
        accept_unauthenticated_commands=r.get(raw, "accept_unauthenticated_commands", path, bool, False),
    )


# Attachment kinds mailbot can recognise; `accepted_types` picks from these.
KNOWN_TYPES = ("docx", "doc", "odt", "pdf", "jpg", "png", "gif", "bmp", "xlsx", "xls", "ods", "txt",
               "mp3", "mp4", "zip")


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


def load(path: str | Path, environ: dict[str, str] | None = None) -> Settings:
    """Read a config file; raise ConfigError listing every problem found."""
    path = Path(path)
    r = _Reader(str(path))
    raw = _load_toml(path, r, "(file)")
    if r.problems:
        raise ConfigError(r.problems)
    base = path.resolve().parent
    env = os.environ if environ is None else environ

    database = env.get("MAILBOT_DATABASE_URL") or r.get(raw, "database", "", str, "")
    storage = Path(r.get(raw, "storage", "", str, "storage"))
    storage = storage if storage.is_absolute() else base / storage
    if not database:
        database = f"sqlite:///{storage / 'mailbot.sqlite3'}"
    elif database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        rel = database[len("sqlite:///"):]
        if rel and rel != ":memory:":
            database = f"sqlite:///{base / rel}"

    agencies = []
    raw_agencies = r.get(raw, "agency", "", list, [])
    if not raw_agencies:
        r.problem("agency", "at least one [[agency]] table is required")
    for i, a in enumerate(raw_agencies):
        if not isinstance(a, dict):
            r.problem(f"agency[{i}]", "must be a table")
            continue
        agency = _read_agency(a, f"agency[{i}]", r, base, env)
        if agency:
            agencies.append(agency)
    slugs = [a.slug for a in agencies]
    for slug in {s for s in slugs if slugs.count(s) > 1}:
        r.problem("agency", f"slug {slug!r} is used twice")
    r.watch(raw, "")
    r.unknown_keys()
    if r.problems:
        raise ConfigError(r.problems)
    return Settings(source=path, database_url=database, storage_dir=storage, agencies=tuple(agencies))
