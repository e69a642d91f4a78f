"""The configuration file's schema (pydantic v2): every table, key and type, unknown keys forbidden.

These models describe the TOML as written (after the presets are layered under an agency's table);
mailbot.config.loading turns them into the immutable settings of mailbot.config.settings and adds the
checks that need more than one value (a deadline rule a name refers to, an environment variable).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Role = Literal["head", "deputy_head", "member", "secretary", "director"]
Category = Literal["news", "article", "document", "statistics", "report", "photos"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
QuotaBasis = Literal["received", "published"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip().lower()


def _email_or_empty(value: str) -> str:
    return _email(value) if value else ""


# Attachment kinds mailbot can recognise; `intake.accepted_types` picks from these.
KNOWN_TYPES = ("docx", "doc", "odt", "pdf", "jpg", "png", "gif", "bmp", "xlsx", "xls", "ods", "txt",
               "mp3", "mp4", "zip")


def _types(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(KNOWN_TYPES))
    if unknown:
        raise ValueError(f"unknown types {unknown}; known: {', '.join(KNOWN_TYPES)}")
    return value


Email = Annotated[str, AfterValidator(_email)]
OptionalEmail = Annotated[str, AfterValidator(_email_or_empty)]
def _matching(pattern: str, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} must be {rule}")
        return value
    return AfterValidator(check)


Prefix = Annotated[str, _matching(r"[A-Z][A-Z0-9]{0,9}", "1-10 capital letters or digits")]
Slug = Annotated[str, _matching(r"[a-z0-9][a-z0-9-]*", "lowercase letters, digits and dashes")]


class Table(BaseModel):
    """A TOML table: no key it does not know, no silent conversion of types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MemberTable(Table):
    name: str
    email: Email
    role: Role


class UnitTable(Table):
    name: str
    aliases: list[str] = []
    head: OptionalEmail = ""
    focal_points: list[Email] = []
    monthly_quota: Annotated[int, Field(ge=0)] = 0
    preapproval: bool | None = None
    domains: list[str] = []   # mail domains of the unit's own (a district's tuphap-dongphu.gov.vn)


class StaffTable(Table):
    name: str
    email: Email
    unit: str = ""
    title: str = ""
    phone: str = ""


class CategoryTable(Table):
    label: str | None = None
    tags: list[str] = []
    keywords: list[str] = []
    photos_required: bool = False
    signed_original: bool = False


class IntakeTable(Table):
    max_attachment_mb: Annotated[float, Field(gt=0)] = 25
    max_message_mb: Annotated[float, Field(gt=0)] = 50
    accepted_types: Annotated[list[str], AfterValidator(_types)] = ["docx", "doc", "odt", "pdf", "jpg", "png", "gif",
                                                                    "bmp"]
    default_category: Category = "news"
    outside_senders: Literal["accept", "hold"] = "accept"
    require_email: bool = False
    admin_address: OptionalEmail = ""
    contribution_rules: dict[Category, str] = {}


class LimitsTable(Table):
    mime_depth: Annotated[int, Field(ge=2, le=500)] = 40
    parts: Annotated[int, Field(ge=1)] = 300
    header_kb: Annotated[int, Field(ge=1)] = 64
    addresses_per_header: Annotated[int, Field(ge=1)] = 1_000
    thread_ids: Annotated[int, Field(ge=2, le=1000)] = 50
    detector_chars: Annotated[int, Field(ge=1_000)] = 20_000
    html_depth: Annotated[int, Field(ge=10)] = 1_000
    archive_members: Annotated[int, Field(ge=1)] = 5_000
    archive_inflated_mb: Annotated[float, Field(gt=0)] = 200
    archive_ratio: Annotated[int, Field(ge=2)] = 200
    large_message_mb: Annotated[float, Field(gt=0)] = 2
    extraction_seconds: Annotated[float, Field(gt=0)] = 20
    extraction_chars: Annotated[int, Field(ge=1_000)] = 200_000
    signature_seconds: Annotated[float, Field(gt=0)] = 20
    message_seconds: Annotated[float, Field(gt=0)] = 120
    attempts: Annotated[int, Field(ge=1, le=10)] = 2
    answers_per_day: Annotated[int, Field(ge=1)] = 10
    submissions_per_hour: Annotated[int, Field(ge=1)] = 20


class SignaturesTable(Table):
    trust_store: str = ""       # a folder of PEM/DER certificates; "" = PDF signatures are not checked
    revocation: bool = False    # OCSP/CRL over the network


class StepTable(Table):
    name: str
    label: str | None = None
    roles: Annotated[list[Role], Field(min_length=1)]
    deadline: dict[str, Any] = {}


class WorkflowTable(Table):
    steps: list[StepTable] = []
    unit_preapproval: bool = False
    outside_confirmation: bool = False
    publish_on_approval: bool = False
    token_days: Annotated[int, Field(gt=0)] = 14
    undo_minutes: Annotated[int, Field(ge=0)] = 15
    reply_to_token: bool = False
    trusted_authserv_id: str = ""
    accept_unauthenticated_commands: bool = False


class RemindersTable(Table):
    before_hours: Annotated[float, Field(ge=0)] = 4
    escalate_after_days: Annotated[int, Field(ge=0)] = 1
    sweep_minutes: Annotated[int, Field(gt=0)] = 15


class CalendarTable(Table):
    office_hours: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = []   # [["07:30", "11:30"], ...]
    days_off: dict[str, str] = {}
    working_days: dict[str, str] = {}


class QuestionsTable(Table):
    address: OptionalEmail = ""
    reference_prefix: Prefix = "HD"
    steps: list[StepTable] = []
    acks_per_day: Annotated[int, Field(ge=0)] = 3
    answer_rule: str = "citizen_answer"
    extended_rule: str = "citizen_answer_consulted"
    feedback_rule: str = "unit_feedback_response"


class DigestTable(Table):
    weekday: Weekday = "monday"
    time: str = "07:30"


class ReportTable(Table):
    time: str = "07:30"
    recipients: list[Email] = []


class QuotasTable(Table):
    basis: QuotaBasis = "received"
    unit_monthly: Annotated[int, Field(ge=0)] = 0
    staff_monthly: dict[Category, Annotated[int, Field(ge=0)]] = {}
    nudge_day: Annotated[int, Field(ge=1, le=28)] = 15
    summary_time: str = "14:00"


class PeriodicReportTable(Table):
    rule: str
    name: str | None = None
    label: str | None = None


class AgencyTable(Table):
    slug: Slug
    preset: str | None = None
    name: str
    website: str = ""
    board_address: Email
    mailbox: str
    mailbox_password_env: str = ""
    outgoing: str
    outgoing_password_env: str = ""
    reference_prefix: Prefix = "BBT"
    message_id_domain: str = ""
    accepted_domains: list[str] = []
    members: list[MemberTable] = []
    units: list[UnitTable] = []
    staff: list[StaffTable] = []
    staff_csv: str | None = None
    categories: dict[Category, CategoryTable] = {}
    intake: IntakeTable = IntakeTable()
    limits: LimitsTable = LimitsTable()
    signatures: SignaturesTable = SignaturesTable()
    workflow: WorkflowTable = WorkflowTable()
    reminders: RemindersTable = RemindersTable()
    calendar: CalendarTable = CalendarTable()
    deadlines: dict[str, dict[str, Any]] = {}
    questions: QuestionsTable = QuestionsTable()
    digest: DigestTable = DigestTable()
    report: ReportTable = ReportTable()
    quotas: QuotasTable = QuotasTable()
    periodic_reports: list[PeriodicReportTable] = []


class DeliveryTable(Table):
    retry_minutes: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = [
        1, 5, 30, 120, 360, 360, 360, 360]
    batch: Annotated[int, Field(gt=0, le=1000)] = 50
    claim_minutes: Annotated[float, Field(gt=0)] = 10
    smtp_timeout_seconds: Annotated[float, Field(gt=0)] = 60
    alert_every_minutes: Annotated[float, Field(ge=0)] = 60


class ServiceTable(Table):
    log_format: Literal["text", "json"] = "text"
    metrics: Annotated[str, _matching(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}|", "HOST:PORT")] = ""
    mailbox_stale_seconds: Annotated[float, Field(ge=60)] = 600
    outbox_stuck_minutes: Annotated[float, Field(gt=0)] = 60
    slow_pass_seconds: Annotated[float, Field(gt=0)] = 5
    lease_seconds: Annotated[float, Field(ge=5, le=600)] = 45
    database_retry_max_seconds: Annotated[float, Field(gt=0)] = 60


class FileTable(Table):
    database: str = ""
    storage: str = "storage"
    delivery: DeliveryTable = DeliveryTable()
    service: ServiceTable = ServiceTable()
    agency: Annotated[list[dict[str, Any]], Field(min_length=1)]
