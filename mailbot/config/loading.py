"""One TOML file (its agencies layered over the presets, a staff CSV beside it) read into the settings.

The schema (mailbot.config.schema, pydantic) checks every key and type; the checks here need more than
one value: the endpoints and their secrets, the deadline rules that names refer to, times and dates.
Every problem is collected, each with the file and the key's path, and reported at once.
"""

from __future__ import annotations

import csv
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mailbot.config import schema
from mailbot.config.settings import (
    WEEKDAYS,
    Agency,
    CategoryRule,
    ConfigError,
    DeliverySettings,
    Endpoint,
    IntakeSettings,
    LimitSettings,
    Member,
    PeriodicReport,
    Problem,
    QuestionSettings,
    ReminderSettings,
    ScheduleSettings,
    ServiceSettings,
    Settings,
    SignatureSettings,
    StaffMember,
    Step,
    Unit,
    WorkflowSettings,
    parse_endpoint,
)
from mailbot.paths import presets_dir
from mailbot.worktime.calendar import CLOCK_KINDS, TZ, WorkCalendar


class _Problems:
    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(Problem(self.file, key, message))

    def validate(self, model: type[BaseModel], raw: Any, prefix: str) -> Any:
        """The validated model, or None with every error recorded under its path."""
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(x for x in err["loc"] if x != "[key]")
                self.add(_key(prefix, loc), _message(model, loc, err))
            return None


def _key(prefix: str, loc: tuple[Any, ...]) -> str:
    key = prefix
    for part in loc:
        key = f"{key}[{part}]" if isinstance(part, int) else f"{key}.{part}" if key else str(part)
    return key


def _message(model: type[BaseModel], loc: tuple[Any, ...], err: Any) -> str:
    kind, given = err["type"], err.get("input")
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        return "unknown setting" + (f"; did you mean {close[0]!r}?" if close else f"; known here: {', '.join(known)}")
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        return f"{given!r} is not one of {err['ctx']['expected']}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return f"{err['msg']} (got {given!r})"


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema knows at `loc`, for the closest-known hint."""
    node: Any = model
    for part in (*loc, None):
        while typing.get_origin(node) in (typing.Annotated, typing.Union, types.UnionType):
            node = next(a for a in typing.get_args(node) if a is not type(None))
        if part is None:
            break
        origin, args = typing.get_origin(node), typing.get_args(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            node = field.annotation if field else None
        elif origin is list and isinstance(part, int):
            node = args[0]
        elif origin is dict:
            node = args[1]
        else:
            return []
    return sorted(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _merge(base: dict, over: dict) -> dict:
    """Deep-merge tables; the agency's own values win, lists replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_toml(path: Path, problems: _Problems, key: str) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.add(key, f"file {path} does not exist")
    except tomllib.TOMLDecodeError as exc:
        problems.add(key, f"{path} is not valid TOML: {exc}")
    return {}


def load_staff_csv(path: Path, problems: _Problems, key: str) -> list[StaffMember]:
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
        problems.add(key, f"cannot read staff CSV {path}: {exc}")
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
            problems.add(key, f"{path}: header has no {needed!r} column (found {rows[0]})")
            return []
    staff = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        value = {f: (row[i].strip() if i < len(row) else "") for f, i in index.items()}
        try:
            email = schema._email(value["email"])
        except ValueError:
            problems.add(key, f"{path} line {line_no}: {value['email']!r} is not an email address")
            continue
        staff.append(StaffMember(name=value["name"], email=email, unit=value.get("unit", ""),
                                 title=value.get("title", ""), phone=value.get("phone", "")))
    return staff


def _layered(raw: dict, path: str, problems: _Problems) -> dict:
    """The agency's table over its preset over the common defaults."""
    common = presets_dir() / "_common.toml"
    base = _load_toml(common, problems, "(presets)").get("agency", {}) if common.exists() else {}
    name = raw.get("preset")
    if isinstance(name, str) and name:
        preset_file = presets_dir() / f"{name}.toml"
        if name.startswith("_") or not preset_file.exists():
            known = sorted(p.stem for p in presets_dir().glob("*.toml") if not p.stem.startswith("_"))
            problems.add(f"{path}.preset", f"no preset {name!r}; known: {', '.join(known)}")
        else:
            base = _merge(base, _load_toml(preset_file, problems, f"{path}.preset").get("agency", {}))
    return _merge(base, raw)


def _endpoints(raw: dict, path: str, problems: _Problems, base: Path,
               env: Mapping[str, str]) -> dict[str, Endpoint | None]:
    """Mailbox and outgoing URLs with their passwords from the environment (checked even when the rest is not)."""
    out: dict[str, Endpoint | None] = {}
    for key, kinds, secret in (("mailbox", ("imap", "imaps", "maildir"), "mailbox_password_env"),
                               ("outgoing", ("smtp", "smtps", "file"), "outgoing_password_env")):
        url, env_name, endpoint = raw.get(key), raw.get(secret), None
        if isinstance(url, str) and url:
            try:
                endpoint = parse_endpoint(url, kinds, base)
            except ValueError as exc:
                problems.add(f"{path}.{key}", str(exc))
        if endpoint and isinstance(env_name, str) and env_name:
            if env_name in env:
                endpoint = replace(endpoint, password=env[env_name])
            else:
                problems.add(f"{path}.{secret}", f"environment variable {env_name} is not set")
        out[key] = endpoint
    return out


def _time(value: str, key: str, problems: _Problems) -> time | None:
    """A clock time like "07:30", or None with the problem recorded."""
    try:
        return time.fromisoformat(value)
    except ValueError:
        problems.add(key, f"{value!r} is not a time like \"07:30\"")
        return None


def _clock(value: str, key: str, problems: _Problems, default: time) -> time:
    return _time(value, key, problems) or default


def _calendar(table: schema.CalendarTable, path: str, problems: _Problems) -> WorkCalendar:
    hours = []
    for i, (opens, closes) in enumerate(table.office_hours):
        key = f"{path}.office_hours[{i}]"
        begin = _time(opens, key, problems)
        end = _time(closes, key, problems) if begin is not None else None
        if begin is None or end is None:
            continue
        if begin >= end:
            problems.add(key, "opens after it closes")
        else:
            hours.append((begin, end))
    days: dict[str, dict[date, str]] = {}
    for name in ("days_off", "working_days"):
        days[name] = {}
        for day, why in getattr(table, name).items():
            try:
                days[name][date.fromisoformat(day)] = why
            except ValueError:
                problems.add(f"{path}.{name}", f"{day!r} is not a date like \"2026-12-31\"")
    return WorkCalendar(office_hours=tuple(sorted(hours)) or WorkCalendar.office_hours,
                        days_off=days["days_off"], working_days=days["working_days"])


def _steps(tables: list[schema.StepTable], path: str, problems: _Problems) -> tuple[Step, ...]:
    steps = tuple(Step(name=t.name, label=t.label or t.name, roles=tuple(t.roles), deadline=dict(t.deadline))
                  for t in tables)
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        problems.add(f"{path}.steps", "step names must differ")
    return steps


def _rules(a: schema.AgencyTable, workflow: WorkflowSettings, calendar: WorkCalendar, path: str,
           problems: _Problems) -> None:
    """Every deadline rule works on the calendar, and every name that refers to one finds it."""
    rules = {f"deadlines.{n}": r for n, r in a.deadlines.items()}
    rules |= {f"workflow.steps.{st.name}.deadline": st.deadline for st in workflow.steps if st.deadline}
    form_only = replace(calendar, public_holidays=False)   # the rule's form: holidays change dates, not validity
    for key, rule in rules.items():
        try:
            form_only.deadline(rule, datetime(2026, 1, 5, 8, 0, tzinfo=TZ))
        except (ValueError, TypeError, KeyError) as exc:
            problems.add(f"{path}.{key}", f"not a deadline rule: {exc}")
            continue
        for extra in sorted(set(rule) - {*CLOCK_KINDS, "period"}):
            close = difflib.get_close_matches(extra, [*CLOCK_KINDS, "period"], n=1, cutoff=0.6)
            problems.add(f"{path}.{key}.{extra}", "unknown setting" + (
                f"; did you mean {close[0]!r}?" if close else f"; use one of {', '.join(CLOCK_KINDS)}"))
    for category, name in a.intake.contribution_rules.items():
        if name not in a.deadlines:
            problems.add(f"{path}.intake.contribution_rules.{category}", f"{name!r} is not a rule in [agency.deadlines]")
    for key in ("answer_rule", "extended_rule", "feedback_rule"):
        name = getattr(a.questions, key)
        if name not in a.deadlines:
            problems.add(f"{path}.questions.{key}", f"names {name!r}, which is not a rule in [agency.deadlines]")
    for i, report in enumerate(a.periodic_reports):
        if "first_days_of_next" not in a.deadlines.get(report.rule, {}):
            problems.add(f"{path}.periodic_reports[{i}].rule",
                         f"{report.rule!r} must name a first_days_of_next rule in [agency.deadlines]")


def _agency(raw: dict, path: str, problems: _Problems, base: Path, env: Mapping[str, str]) -> Agency | None:
    layered = _layered(raw, path, problems)
    endpoints = _endpoints(layered, path, problems, base, env)
    a: schema.AgencyTable | None = problems.validate(schema.AgencyTable, layered, path)
    if a is None:
        return None
    staff = [StaffMember(name=s.name, email=s.email, unit=s.unit, title=s.title, phone=s.phone) for s in a.staff]
    if a.staff_csv:
        csv_path = Path(a.staff_csv) if Path(a.staff_csv).is_absolute() else base / a.staff_csv
        staff.extend(load_staff_csv(csv_path, problems, f"{path}.staff_csv"))
    wf = a.workflow
    workflow = WorkflowSettings(
        steps=_steps(wf.steps, f"{path}.workflow", problems) or WorkflowSettings.steps,
        unit_preapproval=wf.unit_preapproval, outside_confirmation=wf.outside_confirmation,
        publish_on_approval=wf.publish_on_approval, token_days=wf.token_days, undo_minutes=wf.undo_minutes,
        reply_to_token=wf.reply_to_token, trusted_authserv_id=wf.trusted_authserv_id,
        accept_unauthenticated_commands=wf.accept_unauthenticated_commands)
    calendar = _calendar(a.calendar, f"{path}.calendar", problems)
    _rules(a, workflow, calendar, path, problems)
    q, d = a.questions, ScheduleSettings()
    questions = QuestionSettings(address=q.address, reference_prefix=q.reference_prefix,
                                 steps=_steps(q.steps, f"{path}.questions", problems) or QuestionSettings.steps,
                                 acks_per_day=q.acks_per_day, answer_rule=q.answer_rule,
                                 extended_rule=q.extended_rule, feedback_rule=q.feedback_rule)
    schedule = ScheduleSettings(
        digest_weekday=WEEKDAYS.index(a.digest.weekday),
        digest_time=_clock(a.digest.time, f"{path}.digest.time", problems, d.digest_time),
        report_time=_clock(a.report.time, f"{path}.report.time", problems, d.report_time),
        report_recipients=tuple(a.report.recipients), quota_basis=a.quotas.basis, unit_quota=a.quotas.unit_monthly,
        staff_quota={str(k): v for k, v in a.quotas.staff_monthly.items()}, nudge_day=a.quotas.nudge_day,
        summary_time=_clock(a.quotas.summary_time, f"{path}.quotas.summary_time", problems, d.summary_time),
        periodic_reports=tuple(PeriodicReport(r.name or r.rule, r.label or r.rule, r.rule)
                               for r in a.periodic_reports))
    mailbox, outgoing = endpoints["mailbox"], endpoints["outgoing"]
    if mailbox is None or outgoing is None:
        return None
    i = a.intake
    return Agency(
        slug=a.slug, name=a.name, website=a.website, board_address=a.board_address, mailbox=mailbox,
        outgoing=outgoing, reference_prefix=a.reference_prefix,
        message_id_domain=a.message_id_domain or a.board_address.rpartition("@")[2],
        members=tuple(Member(m.name, m.email, m.role) for m in a.members),
        units=tuple(Unit(name=u.name, aliases=tuple(u.aliases), head=u.head, focal_points=tuple(u.focal_points),
                         monthly_quota=u.monthly_quota, preapproval=u.preapproval,
                         domains=tuple(d.lower().lstrip("@") for d in u.domains)) for u in a.units),
        staff=tuple(staff), accepted_domains=tuple(x.lower().lstrip("@") for x in a.accepted_domains),
        categories=tuple(CategoryRule(name, c.label or name, tuple(c.tags), tuple(c.keywords), c.photos_required,
                                      c.signed_original)
                         for name, c in a.categories.items()),
        intake=IntakeSettings(
            max_attachment_bytes=int(i.max_attachment_mb * 1024 * 1024),
            max_message_bytes=int(i.max_message_mb * 1024 * 1024), accepted_types=tuple(i.accepted_types),
            default_category=i.default_category, outside_senders=i.outside_senders, require_email=i.require_email,
            admin_address=i.admin_address, contribution_rules={str(k): v for k, v in i.contribution_rules.items()}),
        limits=_limits(a.limits), signatures=_signatures(a.signatures, base, f"{path}.signatures", problems),
        calendar=calendar, deadlines=dict(a.deadlines), workflow=workflow,
        reminders=ReminderSettings(before_hours=a.reminders.before_hours,
                                   escalate_after_days=a.reminders.escalate_after_days,
                                   sweep_minutes=a.reminders.sweep_minutes),
        questions=questions, schedule=schedule)


def _signatures(t: schema.SignaturesTable, base: Path, path: str, problems: _Problems) -> SignatureSettings:
    if not t.trust_store:
        return SignatureSettings(revocation=t.revocation)
    folder = Path(t.trust_store) if Path(t.trust_store).is_absolute() else base / t.trust_store
    if not folder.is_dir():
        problems.add(f"{path}.trust_store", f"no folder {folder}")
        return SignatureSettings()
    from mailbot.mail.signatures import load_trust_store

    try:
        roots = load_trust_store(folder)
    except (OSError, ValueError) as exc:
        problems.add(f"{path}.trust_store", str(exc))
        return SignatureSettings()
    if not roots:
        problems.add(f"{path}.trust_store", f"{folder} holds no certificate: every signature would be untrusted")
    return SignatureSettings(trust_store=str(folder), roots=roots, revocation=t.revocation)


def _limits(t: schema.LimitsTable) -> LimitSettings:
    values = t.model_dump()
    values["header_chars"] = values.pop("header_kb") * 1024
    values["archive_inflated_bytes"] = int(values.pop("archive_inflated_mb") * 1024 * 1024)
    values["large_message_bytes"] = int(values.pop("large_message_mb") * 1024 * 1024)
    return LimitSettings(**values)


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read a config file; raise ConfigError listing every problem found."""
    path = Path(path)
    problems = _Problems(str(path))
    raw = _load_toml(path, problems, "(file)")
    if problems.items:
        raise ConfigError(problems.items)
    base = path.resolve().parent
    env = os.environ if environ is None else environ
    top: schema.FileTable | None = problems.validate(schema.FileTable, raw, "")
    database = env.get("MAILBOT_DATABASE_URL") or (top.database if top else "")
    storage = Path(top.storage if top else "storage")
    storage = storage if storage.is_absolute() else base / storage
    if not database:
        database = f"sqlite:///{storage / 'mailbot.sqlite3'}"
    elif database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        rel = database[len("sqlite:///"):]
        if rel and rel != ":memory:":
            database = f"sqlite:///{base / rel}"
    agencies = []
    raw_agencies: list[Any] = raw["agency"] if isinstance(raw.get("agency"), list) else []
    for n, a in enumerate(raw_agencies):
        if isinstance(a, dict):
            agency = _agency(a, f"agency[{n}]", problems, base, env)
            if agency:
                agencies.append(agency)
    slugs = [a.slug for a in agencies]
    for slug in sorted({s for s in slugs if slugs.count(s) > 1}):
        problems.add("agency", f"slug {slug!r} is used twice")
    if problems.items:
        raise ConfigError(problems.items)
    delivery, service = (top.delivery, top.service) if top else (schema.DeliveryTable(), schema.ServiceTable())
    return Settings(source=path, database_url=database, storage_dir=storage, agencies=tuple(agencies),
                    delivery=DeliverySettings(**{**delivery.model_dump(),
                                                 "retry_minutes": tuple(delivery.retry_minutes)}),
                    service=ServiceSettings(**service.model_dump()))
