"""Which language a text is in, for the editor's hints (mailbot.articles.hints): py3langid.

Its model takes about 90 MiB once loaded (numpy and the model's tables), more than everything else mailbot
holds: `identify` runs in the extraction child (mailbot.mail.extraction), beside python-docx, so the process
that holds the mail never loads it.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _model() -> Any:
    import py3langid  # about 0.6 s to load its model

    return py3langid


def identify(texts: list[str]) -> list[str]:
    """The ISO 639-1 code of each text's most likely language. Called in the child process, never directly."""
    return [str(_model().classify(text)[0]) for text in texts]
