"""Separating a reply's new text from what it quotes, over the crisp-oss/email-reply-parser fixtures.

The expectations are the ones that project's own suite states for each fixture: for most, the
new text is exactly a known Latin paragraph; for the rest, a phrase that must (or must not) be in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.cases import commands
from mailbot.mail import reply

FIXTURES = Path(__file__).resolve().parent / "corpus" / "crisp-oss_email-reply-parser" / \
    "test" / "fixtures"

COMMON = ("Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra sodales ante sem sit amet "
          "metus.\nNulla malesuada, orci non vulputate lobortis, massa felis pharetra ex, convallis consectetur ex "
          "libero eget ante.\nNam vel turpis posuere, rhoncus ligula in, venenatis orci. Duis interdum venenatis ex a "
          "rutrum.\nDuis ut libero eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus urna,\net "
          "mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh.")

# New text is exactly the common paragraph (a signature under it may stay: commands read line one).
COMMON_FIRST = [
    "email_7", "email_8", "email_9", "email_10", "email_11", "email_12", "email_13", "email_14", "email_15",
    "email_16", "email_17", "email_18", "email_22", "email_23", "email_24", "email_25", "email_26",
    "email_portuguese", "email_german", "email_german_2", "email_german_3", "email_german_outlook",
    "email_norwegian_gmail", "email_finnish", "email_italian", "email_russian", "email_outlook_split_line_from",
    "email_gmail_split_line_from", "email_ios_outlook_fr", "email_ios_outlook", "email_msn", "email_fr_multiline",
    "email_french_2", "email_en_multiline_2", "email_original_message", "email_original_message_2",
    "email_danish_dash_separator", "email_french_dash_separator", "email_tricky_5_mixed_languages",
    "email_tricky_10_special_chars_in_name", "email_tricky_12_no_space_after_header",
    "email_tricky_14_long_quote_header", "email_tricky_15_original_message_variations",
]
# (fixture, phrase that must be in the new text, phrase that must not be)
PHRASES = [
    ("email_1", "What is the best way to clear a Riak bucket", None),
    ("email_3", "Having the function would be great.", None),
    ("email_4", "Awesome", "Loader"),
    ("email_6", "I get", "Was this"),
    ("email_one_is_not_on", "One outstanding question", "On Oct 1, 2012"),
    ("email_sent_from", "Hi it can happen to any texts you type", None),
    ("email_zoho", "What is the best way to clear a Riak bucket", None),
    ("email_with_regards", "I still have the same problem", None),
    ("email_tricky_1_on_false_positive", None, None),
    ("email_tricky_2_url_with_wrote", "Check out this article", None),
    ("email_tricky_3_code_block", "function sendEmail", None),
    ("email_tricky_6_regards_in_sentence", "with regards to the payment", None),
    ("email_tricky_7_multiple_dashes", "Key Points", None),
    ("email_tricky_8_sent_from_in_content", "sent from my iPhone app", None),
    ("email_tricky_9_nested_quotes", "I agree with the points", None),
    ("email_tricky_11_double_signature", "Thanks for your help", None),
    ("email_tricky_13_timestamp_variations", "different timestamp formats", None),
    ("email_tricky_16_unicode_signatures", "Thanks for the update", None),
    ("email_tricky_17_forward_header", "See the forwarded message", None),
    ("email_tricky_19_quote_without_header", "I wanted to respond", None),
    ("email_tricky_20_html_entities", "&gt; 100 and &lt; 200", None),
]


def read(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", COMMON_FIRST)
def test_new_text_is_the_reply_only(name):
    new = reply.split(read(name)).new
    assert new.startswith(COMMON), new[:300]
    rest = new[len(COMMON):]
    assert len(rest) < 200, f"quoted text leaked into the new text: {rest[:200]!r}"


@pytest.mark.parametrize("name,present,absent", PHRASES)
def test_new_text_keeps_and_drops_the_right_lines(name, present, absent):
    text = read(name)
    new = reply.split(text).new
    if present:
        assert present in new
    if absent:
        assert absent not in new
    if present is None and absent is None:  # nothing is quoted: all of it is new
        parts = reply.split(text)
        assert (parts.quoted, parts.forwarded) == ("", "") and new == text.strip()


def test_no_fixture_reads_as_a_command():
    """A reply quoting anything at all must not turn quoted words into a command."""
    for path in sorted(FIXTURES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        quoted_approve = text + "\n\n> DUYỆT\n> APPROVE\n"
        assert commands.find(quoted_approve).command is None, path.name
