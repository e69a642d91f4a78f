"""The `mailbot` command: run the daemon or one pass, list and show what is filed, check a config, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot import config
from mailbot.logs import FORMATS, setup_logging
from mailbot.worktime.calendar import TZ

if TYPE_CHECKING:
    from mailbot.app import App
    from mailbot.jobs.periodic import ByHand
    from mailbot.storage.db import Database

# Each command imports what it needs when it runs: `check`, `list` and `show` start in well under a second,
# where importing the daemon's whole tree (intake, the outbox, openpyxl, the scheduler) took over one.

log = logging.getLogger("mailbot.run")

DEFAULT_CONFIG = "config/mailbot.toml"


def _load(args: argparse.Namespace) -> config.Settings:
    try:
        settings = config.load(args.config)
        if args.log_format is None and settings.service.log_format != "text":
            setup_logging(args.log_level, settings.service.log_format)   # the file's choice, unless given
        return settings
    except config.ConfigError as exc:
        print(f"mailbot: {len(exc.problems)} problem(s) in the configuration:", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args)
    print(f"{args.config}: OK")
    print(f"  database: {settings.database_url}")
    print(f"  storage:  {settings.storage_dir}")
    for a in settings.agencies:
        print(f"  agency {a.slug}: {a.name}")
        print(f"    mailbox  {a.mailbox.redacted()}")
        print(f"    outgoing {a.outgoing.redacted()}")
        print(f"    board {a.board_address}; {len(a.members)} members, {len(a.units)} units, "
              f"{len(a.staff)} staff; references {a.reference_prefix}-YYYY-NNNN")
        print(f"    commands {command_authentication(a)}")
        for warning in config.warnings(a):
            print(f"  WARNING agency {a.slug}: {warning}")
    return 0


def command_authentication(agency: config.Agency) -> str:
    wf = agency.workflow
    if wf.trusted_authserv_id:
        return f"count when {wf.trusted_authserv_id}'s Authentication-Results show DMARC or aligned DKIM pass"
    if wf.accept_unauthenticated_commands:
        return "count on the token alone when no aligned DKIM signature verifies (accept_unauthenticated_commands)"
    return "count only with an aligned DKIM signature verified here (DNS look-ups)"


def _progress(total_label: str):
    def report(n: int, disposition: str) -> None:
        if n % 25 == 0:
            print(f"  {total_label}: {n} messages processed (last: {disposition})", file=sys.stderr, flush=True)
    return report


def cmd_run(args: argparse.Namespace) -> int:
    from mailbot.app import App
    from mailbot.inbound.sources import BacklogDecisionNeeded
    from mailbot.storage.coordination import AlreadyRunning, single_daemon

    settings = _load(args)
    app = App(settings)
    try:
        with single_daemon(app.db):
            app.migrate()
            return _run(args, settings, app)
    except AlreadyRunning as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 4
    except BacklogDecisionNeeded as exc:
        print(f"mailbot: the mailbox {exc.mailbox} already holds {exc.count} message(s) and mailbot has not read "
              "it before.\n  Run again with --backlog process to file them all, or --backlog skip to start from "
              "new mail only.", file=sys.stderr)
        return 3
    finally:
        app.close()


def _run(args: argparse.Namespace, settings: config.Settings, app: App) -> int:
    agencies = [a for a in settings.agencies if not args.agency or a.slug == args.agency]
    for agency in agencies:
        for warning in config.warnings(agency):
            log.warning("configuration weakens a safeguard: %s", warning, extra={"agency": agency.slug})
    if args.once:
        for agency in agencies:
            report = app.worker(agency, backlog=args.backlog).run_pass_resilient(progress=_progress(agency.slug))
            counts = ", ".join(f"{v} {k}" for k, v in sorted(report.counts.items())) or "no new mail"
            print(f"{agency.slug}: {counts}; sent {report.sent}, failed {report.failed}")
        return 0
    from mailbot import metrics

    address = args.metrics or settings.service.metrics
    if address:
        queues = metrics.QueueCollector(app.queue_sizes)
        server = metrics.serve(address, queues)
        log.info("metrics served", extra={"address": address, "port": server.server_port})
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threads = []
    errors: list[BaseException] = []

    def work(agency: config.Agency) -> None:
        try:
            app.worker(agency, backlog=args.backlog).run_forever(stop, wait=args.wait)
        except BaseException as exc:  # noqa: BLE001 - reported below, and stops the others
            errors.append(exc)
            stop.set()

    for agency in agencies:
        t = threading.Thread(target=work, args=(agency,), name=f"mailbot-{agency.slug}", daemon=True)
        t.start()
        threads.append(t)
    heartbeat = Path(settings.storage_dir) / "heartbeat"
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    while True:
        # The heartbeat says what is wrong right now (a database outage, say): `mailbot health` reads it.
        problems = app.health.problems() + [f"worker for {t.name} stopped" for t in threads if not t.is_alive()]
        write_heartbeat(heartbeat, problems, app.health.read_times())
        if stop.wait(10):
            break
    for t in threads:
        t.join(timeout=15)  # a worker inside IDLE wakes within its wait; its work is transactional
    if address:
        metrics.stop(server, queues)
    for exc in errors:
        raise exc
    return 0


def write_heartbeat(path: Path, problems: list[str], read_at: dict[str, str] | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "problems": problems, "read_at": read_at or {}},
                              ensure_ascii=False))
    os.replace(tmp, path)


def cmd_list(args: argparse.Namespace) -> int:
    from mailbot import views

    settings = _load(args)
    db = _reader(settings)
    with db.transaction() as s:
        if args.held or args.messages:
            rows = views.inbound_rows(s, "held" if args.held else None, args.agency)   # Disposition.HELD
        elif args.questions:
            rows = views.question_rows(s, args.agency)
        else:
            rows = views.article_rows(s, args.agency)
    db.dispose()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("(nothing)")
    for r in rows:
        if "kind" in r:
            print(f"{r['reference']}  {r['status']:<14} {r['kind']:<9} {r['title'][:60]}  [{r['unit'] or '-'}] "
                  f"hạn {vn(r['due_at'], '%d/%m/%Y')}{' (gia hạn)' if r['extended'] else ''}")
        elif "reference" in r:
            missing = f"  thiếu: {', '.join(r['missing'])}" if r["missing"] else ""
            print(f"{r['reference']}  {r['status']:<17} {r['category']:<10} {r['title'][:60]}  "
                  f"[{r['author'] or r['submitter']}]{missing}")
        else:
            print(f"#{r['id']:<5} {r['disposition']:<9} {r['from'][:32]:<32} {r['subject'][:50]}\n"
                  f"       {r['rule']}: {r['reason']}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Per agency: the mailbox, what is held and why, the outbox, reminders due; the daemon's heartbeat."""
    from mailbot import views

    settings = _load(args)
    db = _reader(settings)
    now = datetime.now(TZ)
    with db.transaction() as s:
        agencies = [views.status(s, a, now) for a in settings.agencies if not args.agency or a.slug == args.agency]
    db.dispose()
    heartbeat = Path(settings.storage_dir) / "heartbeat"
    age = round(time.time() - heartbeat.stat().st_mtime) if heartbeat.exists() else None
    problems, read_at = _heartbeat(heartbeat)
    for a in agencies:
        a["mailbox"]["last_pass_at"] = read_at.get(a["agency"])   # this host's daemon, when it holds the mailbox
    if args.json:
        print(json.dumps({"daemon": {"heartbeat_age_seconds": age, "problems": problems}, "agencies": agencies},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"daemon: {'no heartbeat' if age is None else f'heartbeat {age} s ago'}"
          f"{'; ' + '; '.join(problems) if problems else ''}")
    for a in agencies:
        box, out = a["mailbox"], a["outbox"]
        lag = f"{box['lag_seconds'] // 60} min ago" if box["lag_seconds"] is not None else "never"
        passed = f"last pass {vn(box['last_pass_at'])}; " if box.get("last_pass_at") else ""
        print(f"{a['agency']}: {passed}last message {lag}; "
              + ("; ".join(f"lease {x['name']} held by {x['holder']} until {vn(x['expires_at'])}"
                           for x in box["leases"]) or "no lease held"))
        print(f"  held: {a['held']['total']}" + "".join(f", {k} {v}" for k, v in a["held"]["by_rule"].items()))
        print(f"  outbox: {out['pending']} pending ({out['failing']} retrying), {out['failed']} failed, "
              f"{out['partial']} partly sent, {out['sent']} sent")
        print(f"  reminders due: {a['reminders_due']}"
              f"{'' if a['reminders_sent_in_office_hours'] else ' (sent in office hours)'}"
              f"; periodic mail due: {', '.join(a['periodic_due']) or 'none'}")
        if a["tries_in_progress"]:
            print(f"  messages being tried (poison guard): {a['tries_in_progress']}")
    return 0


def _heartbeat(heartbeat: Path) -> tuple[list[str], dict[str, str]]:
    """(problems, when each mailbox was last read) as the daemon's heartbeat says; nothing without one."""
    try:
        beat = json.loads(heartbeat.read_text())
        return list(beat.get("problems", [])), dict(beat.get("read_at", {}))
    except (OSError, ValueError, AttributeError, TypeError):
        return [], {}


def cmd_replay(args: argparse.Namespace) -> int:
    """A stored message taken in again (after a fix): decided anew; only one that changed nothing is."""
    from mailbot import views

    settings = _load(args)
    app = _current(settings)
    try:
        with app.db.transaction() as s:
            found = views.find_inbound(s, args.message, args.agency)
        if found is None:
            print(f"mailbot: no stored message {args.message}", file=sys.stderr)
            return 1
        slug, inbound_id = found
        outcome, before = app.services(settings.agency(slug)).intake.replay(inbound_id, as_=args.as_)
    finally:
        app.close()
    reference = f" {outcome.reference}" if outcome.reference else ""
    if not outcome.new:
        print(f"#{inbound_id}: {before}{reference} changed something already; not replayed (its effects stand)")
        return 1
    print(f"#{inbound_id}: {before} -> {outcome.disposition} ({outcome.rule}){reference}: {outcome.reason}")
    return 0


def cmd_archive_verify(args: argparse.Namespace) -> int:
    """Every stored raw message and file against its SHA-256; exit 1 naming each one that is missing or changed."""
    from mailbot import views

    settings = _load(args)
    app = _current(settings)
    bad: list[str] = []
    checked = 0
    with app.db.transaction() as s:
        for blob in views.stored_blobs(s):
            checked += 1
            store = app.raw_store if blob.raw else app.file_store
            problem = store.verify(blob.sha256, blob.suffix)
            if problem:
                bad.append(f"{blob.label} ({store.path(blob.sha256, blob.suffix)}): {problem}")
    app.close()
    for line in bad:
        print(f"BAD {line}")
    print(f"{checked} stored files checked, {len(bad)} bad")
    return 1 if bad else 0


def cmd_archive_export(args: argparse.Namespace) -> int:
    """Each article and question of the period with its files, messages and history, and a manifest."""
    from mailbot import archive

    settings = _load(args)
    try:
        archive.period_bounds(args.period)
    except ValueError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or f"mailbot-archive-{args.period}")
    if out.exists() and any(out.iterdir()):
        print(f"mailbot: {out} is not empty; an export goes into a new folder", file=sys.stderr)
        return 1
    app = _current(settings)
    try:
        with app.db.transaction() as s:
            done = archive.export(s, app.raw_store, app.file_store, args.period, out, args.agency)
    finally:
        app.close()
    print(f"{len(done.items)} articles and questions, {len(done.files)} files, in {out} (manifest.json)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """The database (online) and the storage folder into a new folder."""
    from mailbot import backup

    settings = _load(args)
    try:
        about = backup.backup(settings, Path(args.out))
    except backup.BackupError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {about['database']} at schema {about['schema']} and the storage folder into {args.out}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """A backup into an empty database and storage folder, then every file checked (`archive verify`)."""
    from mailbot import backup

    settings = _load(args)
    try:
        about = backup.restore(settings, Path(args.source))
    except backup.BackupError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 1
    print(f"restored {about['database']} at schema {about['schema']} from {args.source} ({about['created_at']})")
    return cmd_archive_verify(args)


def cmd_show(args: argparse.Namespace) -> int:
    from mailbot import views

    settings = _load(args)
    db = _reader(settings)
    with db.transaction() as s:
        detail = views.article_detail(s, args.reference, args.agency) or \
            views.question_detail(s, args.reference, args.agency)
    db.dispose()
    if detail is None:
        print(f"mailbot: no article or question {args.reference}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
        return 0
    print(format_question(detail) if "kind" in detail else format_detail(detail))
    return 0


def format_question(d: dict) -> str:
    lines = [f"{d['reference']}  {d['title']}",
             f"  {d['kind']}: {d['status']}{':' + d['step'] if d['step'] else ''} ({d['status_label']})",
             f"  asker:     {d['asker']['name']} <{d['asker']['email']}>",
             f"  unit:      {d['unit'] or '-'}",
             f"  received:  {vn(d['received_at'])}; due {vn(d['due_at'])}"
             f"{'; extended: ' + d['extension_reason'] if d['extended'] else ''}"
             f"{'; answered ' + vn(d['answered_at']) if d['answered_at'] else ''}"]
    lines += ["  question:"] + [f"    {x}" for x in d["body_text"].split("\n")]
    if d["answer_text"]:
        lines += [f"  answer (v{d['answer_version']}):"] + [f"    {x}" for x in d["answer_text"].split("\n")]
    lines += _common_sections(d)
    return "\n".join(lines)


def vn(iso: str | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
    """A stored time as people here read it: Vietnam time (JSON output keeps ISO with its offset)."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(TZ).strftime(fmt)


def _common_sections(d: dict) -> list[str]:
    lines = ["  messages in:"]
    for m in d["messages_in"]:
        # When it arrived (what time limits count from); when mailbot read it, where that was later.
        arrived, read = vn(m.get("arrived_at") or m["received_at"]), vn(m["received_at"])
        lines.append(f"    #{m['id']} {arrived} {m['from']}: {m['subject']} -> {m['disposition']}"
                     + (f" (read {read})" if read != arrived else ""))
        if m.get("arrival_note"):
            lines.append(f"      {m['arrival_note']}")
    lines.append("  messages out:")
    lines += [f"    #{m['id']} {m['kind']} to {', '.join(m['to'])}: {m['status']}"
              f"{' (' + m['last_error'] + ')' if m['last_error'] else ''}" for m in d["messages_out"]]
    lines.append("  deadlines:")
    for dl in d["deadlines"]:
        state = f"closed {dl['closed']} ({dl['outcome']})" if dl["closed"] else "open"
        lines.append(f"    {dl['position']} ({dl['rule']}): due {vn(dl['due'])} [{state}]")
        lines.extend(f"      {line}" for line in dl["explanation"].split("\n"))
    lines.append("  history:")
    for e in d["history"]:
        change = f" {e['from'] or '-'} -> {e['to']}" if e["from"] != e["to"] else ""
        lines.append(f"    {vn(e['at'])} {e['event']}{change} by {e['actor']}{': ' + e['detail'] if e['detail'] else ''}")
    return lines


def format_detail(d: dict) -> str:
    a = d["author"] or {}
    lines = [
        f"{d['reference']}  {d['title']}",
        f"  status:    {d['status']}{':' + d['step'] if d['step'] else ''} ({d['status_label']}), "
        f"version {d['version']}{', sensitive' if d['sensitive'] else ''}"
        f"{', assigned to ' + d['assignee'] if d['assignee'] else ''}"
        f"{', at ' + d['published_url'] if d['published_url'] else ''}",
        f"  category:  {d['category']}",
        f"  received:  {vn(d['received_at'])}",
        f"  author:    {a.get('name', '')} | {a.get('title', '')} | {a.get('unit', '')} | "
        f"{a.get('phone', '')} {a.get('address', '')} | {a.get('email', '')}",
        f"  sources:   {', '.join(f'{k} from {v}' for k, v in (a.get('sources') or {}).items())}",
        f"  submitter: {d['submitter']}",
    ]
    if d["missing"]:
        lines.append(f"  missing:   {', '.join(d['missing'])}")
    for hint in d["hints"]:
        lines.append(f"  hint:      [{hint['kind']}] {hint['text']}")
    lines.append("  attachments:")
    for f in d["attachments"] or [{"filename": "(none)"}]:
        if "kind" in f:
            lines.append(f"    - {f['filename']} [{f['kind'] or f['sniffed_type']}, {f['size']} B, v{f['version']}] "
                         f"{f['status']}{': ' + f['reason'] if f['reason'] else ''}")
            if f.get("signature"):
                from mailbot.mail.signatures import summary_vi

                lines.append(f"      {summary_vi(f['signature'])}")
        else:
            lines.append("    (none)")
    lines += _common_sections(d)
    return "\n".join(lines)


def cmd_health(args: argparse.Namespace) -> int:
    """For the container's health check: the daemon's heartbeat is fresh, it reports no outage, and the
    database answers."""
    import time

    from sqlalchemy import text

    from mailbot import views

    settings = _load(args)
    heartbeat = Path(settings.storage_dir) / "heartbeat"
    problems = []
    if not heartbeat.exists():
        problems.append(f"no heartbeat at {heartbeat}: is `mailbot run` running?")
    elif time.time() - heartbeat.stat().st_mtime > args.max_age:
        problems.append(f"heartbeat older than {args.max_age:.0f} s: the daemon has stopped")
    else:
        try:
            problems += json.loads(heartbeat.read_text()).get("problems", [])
        except (ValueError, AttributeError):
            pass   # an older daemon's empty heartbeat: its age is what counts
    from mailbot.storage.db import Database

    db = Database(settings.database_url)
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with db.transaction() as s:
            stuck = views.stuck_mail(s, datetime.now(TZ) - timedelta(minutes=settings.service.outbox_stuck_minutes))
        if stuck:
            problems.append(f"{stuck} mail(s) retrying for over {settings.service.outbox_stuck_minutes:g} min: "
                            "the mail server keeps refusing or is unreachable (`mailbot status`)")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"database does not answer: {type(exc).__name__}")
    finally:
        db.dispose()
    for p in problems:
        print(f"unhealthy: {p}", file=sys.stderr)
    if not problems:
        print("healthy")
    return 1 if problems else 0


def _agency(settings: config.Settings, slug: str | None) -> config.Agency:
    if slug:
        return settings.agency(slug)
    if len(settings.agencies) > 1:
        raise SystemExit(f"mailbot: several agencies are configured; name one with --agency "
                         f"({', '.join(a.slug for a in settings.agencies)})")
    return settings.agencies[0]


def _current(settings: config.Settings) -> App:
    """The application on a database whose schema is current. Only `migrate` and `run` change the schema:
    a command run beside an older daemon, or before the first start, says so instead."""
    from mailbot.app import App
    from mailbot.storage.db import NotSetUp, SchemaNotCurrent

    app = App(settings)
    try:
        app.check_ready()
    except (SchemaNotCurrent, NotSetUp) as exc:
        app.close()
        raise SystemExit(f"mailbot: {exc}") from None
    return app


def _reader(settings: config.Settings) -> Database:
    """Only the database, its schema current and its agencies known: what `list`, `show` and `status` read,
    without building the services."""
    from mailbot.storage.db import Database, NotSetUp, SchemaNotCurrent

    db = Database(settings.database_url)
    try:
        db.check_ready([a.slug for a in settings.agencies])
    except (SchemaNotCurrent, NotSetUp) as exc:
        db.dispose()
        raise SystemExit(f"mailbot: {exc}") from None
    return db


@contextmanager
def _opened(settings: config.Settings) -> Iterator[App]:
    """The application on a current schema, closed afterwards."""
    app = _current(settings)
    try:
        yield app
    finally:
        app.close()


def cmd_release(args: argparse.Namespace) -> int:
    """Articles filed past a sender's submission rate, sent on to the board one by one (the notices are
    queued in the outbox; the daemon, or the next `run --once`, sends them)."""
    settings = _load(args)
    app = _current(settings)
    failed = 0
    try:
        for reference in args.references:
            agency = next((a for a in settings.agencies if reference.startswith(a.reference_prefix + "-")
                           and (not args.agency or a.slug == args.agency)), None)
            if agency is None:
                print(f"mailbot: no agency numbers its articles like {reference}", file=sys.stderr)
                failed += 1
                continue
            done = app.services(agency).intake.release(reference)
            print(done)
            failed += not done.startswith(reference) or "not waiting" in done
    finally:
        app.close()
    return 1 if failed else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database schema up to date (under a lock: several processes may start at once)."""
    from mailbot.app import App

    settings = _load(args)
    app = App(settings)
    try:
        app.migrate()
    finally:
        app.close()
    print("database schema is current")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Reminders, digests, reports and quota mail that are due, once; for hosts that run mailbot from cron."""
    settings = _load(args)
    with _opened(settings) as app:
        for agency in settings.agencies:
            if args.agency and agency.slug != args.agency:
                continue
            worker = app.worker(agency)  # the mailbox is not touched: its source connects only to fetch
            sent, failed = worker.send_due(periodic=True)
            print(f"{agency.slug}: sent {sent}, failed {failed}")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from mailbot.jobs import periodic as periodic_mail

    settings = _load(args)
    agency = _agency(settings, args.agency)
    with _opened(settings) as app:
        now = app.now()
        notices = app.services(agency).periodic_notices
        if args.preview:
            with app.db.transaction() as s:
                stats = periodic_mail.weekly_stats(s, agency, periodic_mail.digest_due(agency, now), now)
            to = periodic_mail.board_members(agency)
            mail = notices.digest_preview(stats, to, now)
            print(f"To: {', '.join(to)}\nSubject: {mail['Subject']}\n")
            print(mail.get_body(("plain",)).get_content())
            return 0
        # The sweep's ledger key: a digest sent here is not sent again by the sweep, nor twice by hand.
        result = periodic_mail.digest_by_hand(app.db, agency, notices, now)
        if not result.queued:
            _already_sent(agency, "this week's digest", "board members", result)
            return 0
        done = app.worker(agency).deliver()
        print(f"{agency.slug}: digest queued for {len(result.to)} board members; sent {done.sent}, "
              f"failed {done.failed}")
    return 0


def _already_sent(agency: config.Agency, what: str, who: str, result: ByHand) -> None:
    when = vn(result.sent_at.isoformat() if result.sent_at else None)
    print(f"{agency.slug}: {what} already went to {len(result.to)} {who} at {when}; nothing sent")


def cmd_report(args: argparse.Namespace) -> int:
    from mailbot.jobs import periodic as periodic_mail
    from mailbot.reports import stats as stats_module
    from mailbot.reports import workbook as report_files

    settings = _load(args)
    agency = _agency(settings, args.agency)
    try:
        year, month = (int(x) for x in args.month.split("-"))
        stats_module.Period.month(year, month)
    except ValueError:
        raise SystemExit(f"mailbot: --month takes YYYY-MM, not {args.month!r}") from None
    with _opened(settings) as app:
        now = app.now()
        if args.send:
            try:
                result = periodic_mail.report_by_hand(app.db, agency, app.services(agency).periodic_notices, year,
                                                      month, now)
            except ValueError as exc:
                raise SystemExit(f"mailbot: {exc}") from None
            if not result.queued:
                _already_sent(agency, f"the report for {month:02d}/{year}", "people", result)
        if not args.send or not result.queued:
            with app.db.transaction() as s:
                stats = stats_module.gather(s, agency, stats_module.Period.month(year, month), now)
            xlsx = report_files.workbook(stats, agency)
        else:
            assert result.stats is not None
            stats, xlsx = result.stats, result.xlsx
        out = Path(args.out or f"bao-cao-{year}-{month:02d}.xlsx")
        out.write_bytes(xlsx)
        print(f"{agency.slug}: {stats.period.label}: received {stats.received}, approved {stats.approved}, "
              f"published {stats.published}, rejected {stats.rejected}; questions received "
              f"{stats.questions.get('received', 0)}, answered {stats.questions.get('answered', 0)} "
              f"({stats.questions.get('answered_on_time', 0)} on time)")
        for t in stats.units:
            print(f"  {t.name}: news {t.news}, articles {t.articles}, other {t.other}, photos {t.photos}, "
                  f"received {t.received}" + (f", quota {t.quota}" if t.quota else ""))
        print(f"workbook: {out}")
        if args.send and result.queued:
            done = app.worker(agency).deliver()
            print(f"sent {done.sent}, failed {done.failed}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mailbot import demo
    return demo.run(Path(args.dir))


def version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" outside an installation."""
    from importlib import metadata
    try:
        return metadata.version("mailbot")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailbot", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("MAILBOT_CONFIG", DEFAULT_CONFIG),
                        help=f"settings file (default: $MAILBOT_CONFIG or {DEFAULT_CONFIG})")
    parser.add_argument("--log-level", default=os.environ.get("MAILBOT_LOG_LEVEL", "WARNING"))
    parser.add_argument("--log-format", choices=FORMATS, default=os.environ.get("MAILBOT_LOG_FORMAT"),
                        help="text (key=value) or json (one object a line); default: the log_format setting")
    parser.add_argument("--version", action="version", version=f"mailbot {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="watch the mailboxes (or one pass with --once)")
    p.add_argument("--once", action="store_true", help="one pass: fetch, process, send, exit")
    p.add_argument("--backlog", choices=("ask", "process", "skip"), default="ask",
                   help="first start on a mailbox that already holds mail: process it, or skip to new mail")
    p.add_argument("--agency", help="only this agency (slug)")
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at /metrics (the daemon only)")
    p.add_argument("--wait", type=float, default=300, help="longest wait for new mail between passes (seconds)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="filed articles (or --held / --messages)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--held", action="store_true", help="messages held for the secretary")
    p.add_argument("--messages", action="store_true", help="every incoming message and what became of it")
    p.add_argument("--questions", action="store_true", help="citizens' questions and feedback")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("status", help="per agency: mailbox, held mail by reason, outbox, reminders due")
    p.add_argument("--json", action="store_true")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("backup", help="the database (online) and the storage folder into a new folder")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="a backup into an empty database and storage folder, then verified")
    p.add_argument("source", metavar="BACKUP")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("replay", help="take a stored message in again (a held one after a fix): MESSAGE-ID or #N")
    p.add_argument("message", metavar="MESSAGE-ID|#N")
    p.add_argument("--agency")
    p.add_argument("--as", dest="as_", choices=("article", "question"),
                   help="the secretary's decision for a held message: file it as an article or a citizen's question")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("archive", help="`archive verify`: stored files against their hashes; `archive export`: a period")
    archive = p.add_subparsers(dest="archive_command", required=True)
    q = archive.add_parser("verify", help="every raw message and file against its SHA-256; exit 1 naming the bad")
    q.set_defaults(func=cmd_archive_verify)
    q = archive.add_parser("export", help="a period's articles and questions with files, messages, history")
    q.add_argument("--period", required=True, help="YYYY or YYYY-MM (Vietnam time)")
    q.add_argument("--out", help="a new folder (default: mailbot-archive-PERIOD)")
    q.add_argument("--agency")
    q.set_defaults(func=cmd_archive_export)

    p = sub.add_parser("show", help="one article or question: people, files, messages in and out, deadlines, history")
    p.add_argument("reference")
    p.add_argument("--json", action="store_true")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("release", help="send articles held after a sender's flood on to the board")
    p.add_argument("references", nargs="+", metavar="REFERENCE")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_release)
    p = sub.add_parser("migrate", help="bring the database schema up to date (`run` also does, first)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("check", help="validate the configuration; every problem at once")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("health", help="exit 0 while the daemon's heartbeat is fresh and the database answers")
    p.add_argument("--max-age", type=float, default=300, help="oldest acceptable heartbeat (seconds)")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("sweep", help="send the reminders, digests, reports and quota mail that are due (for cron)")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("digest", help="the weekly digest to the board: --preview prints it, --send mails it now")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--preview", action="store_true")
    mode.add_argument("--send", action="store_true")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("report", help="reports: `report monthly --month 2026-11 [--out file.xlsx] [--send]`")
    p.add_argument("kind", choices=("monthly",))
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--out", help="where to write the workbook (default bao-cao-YYYY-MM.xlsx)")
    p.add_argument("--send", action="store_true", help="also mail it to the leadership now")
    p.add_argument("--agency")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="file sample Vietnamese submissions with the embedded default and show it")
    p.add_argument("--dir", default="storage/demo", help="where the demo keeps its mailbox, outbox and database")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format or "text")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

