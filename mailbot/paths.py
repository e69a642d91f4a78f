"""Where mailbot finds its own resources: templates, presets and sample mail beside the package."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The project folder holding templates/ and config/.

    A source checkout (or an editable install) finds it beside the package; an image that
    installs the package elsewhere sets MAILBOT_HOME (the Dockerfile does).
    """
    return Path(os.environ.get("MAILBOT_HOME") or Path(__file__).resolve().parent.parent)


def templates_dir() -> Path:
    return home() / "templates"


def presets_dir() -> Path:
    return home() / "config" / "presets"
