"""Start-up of the read-only commands (issue 13: `check` and `list` under 1 s), side by side with the floor
they stand on: the interpreter alone, and the interpreter importing SQLAlchemy and pydantic.

Run by hand: .venv/bin/python bench/startup.py [RUNS]. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """database = "sqlite:///{dir}/db.sqlite3"
storage = "{dir}/store"

[[agency]]
slug = "stp"
preset = "binhphuoc"
name = "Sở Tư pháp"
board_address = "bbt@binhphuoc.gov.vn"
mailbox = "maildir:{dir}/in"
outgoing = "file:{dir}/out"
"""


def timed(argv: list[str], runs: int) -> float:
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=False, capture_output=True)   # `show` of a missing reference exits 1
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main(runs: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mailbot-startup-"))
    config = tmp / "mailbot.toml"
    config.write_text(CONFIG.format(dir=tmp), encoding="utf-8")
    mailbot = [sys.executable, "-m", "mailbot", "--config", str(config)]
    subprocess.run([*mailbot, "migrate"], check=True, capture_output=True)
    rows = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import sqlalchemy.orm, pydantic'", [sys.executable, "-c", "import sqlalchemy.orm, pydantic"]),
            ("mailbot --version", [*mailbot, "--version"]),
            ("mailbot check", [*mailbot, "check"]),
            ("mailbot list", [*mailbot, "list"]),
            ("mailbot show BBT-2026-0001", [*mailbot, "show", "BBT-2026-0001"]),
            ("mailbot status", [*mailbot, "status"])]
    print(f"median wall time of {runs} runs")
    for label, argv in rows:
        print(f"  {label:<44} {timed(argv, runs):.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
