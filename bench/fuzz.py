"""The long fuzz run (issue 12): seeded mutants of the corpus through the whole intake on SQLite, each timed.

    .venv/bin/python bench/fuzz.py [--count 10000] [--seed 12] [--only N]

Prints how many were internal errors, how many took over 5 s (a hang counts there too: each mutant runs
under a 60 s alarm), the slowest, and the time by kind of mutation. The README's figures come from here.
"""

from __future__ import annotations

import argparse
import logging
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailbot.app import App
from tests.conftest import write_settings
from tests.fuzz.mutants import mutants


class Hang(Exception):
    pass


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--only", type=int, help="run one mutant (by number) and print its outcome")
    args = ap.parse_args()
    logging.getLogger("mailbot").setLevel(logging.ERROR)   # the brakes warn on every capped answer
    tmp = Path(tempfile.mkdtemp(prefix="mailbot-fuzz-"))
    settings = write_settings(tmp, f"sqlite:///{tmp / 'fuzz.sqlite3'}", f"maildir:{tmp / 'in'}", f"file:{tmp / 'out'}")
    app = App(settings)
    app.migrate()
    intake = app.services(settings.agencies[0]).intake

    def alarm(*_):
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    times: list[tuple[float, int, str]] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    errors, hangs, rules = [], [], defaultdict(int)
    started = time.monotonic()
    for n, name, raw in mutants(args.count, args.seed):
        if args.only is not None and n != args.only:
            continue
        t0 = time.perf_counter()
        signal.alarm(60)
        try:
            outcome = intake.process(raw, source=f"fuzz#{n}")
        except Hang:
            hangs.append((n, name))
            continue
        finally:
            signal.alarm(0)
        spent = time.perf_counter() - t0
        times.append((spent, n, name))
        by_kind[name.split("+")[0]].append(spent)
        rules[outcome.rule] += 1
        if outcome.rule in ("internal-error", "poison-message"):
            errors.append((n, name, outcome.reason))
        if args.only is not None:
            print(n, name, len(raw), outcome)
    app.close()
    times.sort(reverse=True)
    over = [t for t in times if t[0] > 5]
    print(f"mailbot fuzz, {date.today()}, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"mutants: {len(times) + len(hangs)} (seed {args.seed}) in {time.monotonic() - started:.0f} s")
    print(f"internal errors: {len(errors)}; hangs (60 s): {len(hangs)}; over 5 s: {len(over)}")
    if times:
        ordered = sorted(t for t, _, _ in times)
        print(f"per mutant: median {statistics.median(ordered) * 1000:.0f} ms, p99 "
              f"{ordered[int(len(ordered) * 0.99) - 1] * 1000:.0f} ms, slowest {times[0][0]:.2f} s "
              f"(#{times[0][1]} {times[0][2]})")
    for kind, spent in sorted(by_kind.items()):
        print(f"  {kind:13s} {len(spent):6d}  mean {statistics.mean(spent) * 1000:6.0f} ms  max {max(spent):5.2f} s")
    print("rules:", ", ".join(f"{k} {v}" for k, v in sorted(rules.items(), key=lambda kv: -kv[1])))
    for n, name, reason in errors[:20]:
        print("ERROR", n, name, reason)
    for n, name in hangs[:20]:
        print("HANG", n, name)
    return 1 if errors or hangs or over else 0


if __name__ == "__main__":
    raise SystemExit(main())
