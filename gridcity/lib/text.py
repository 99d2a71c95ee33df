"""Text from outside, cleaned on the way in and made inert on the way out.

`clean_text` is applied at every boundary where someone types text that is stored (a case's
description and address, a note, an Open311 request, the public form, the people and publicity
records). Control characters have no business in any of them: a bell (\\x07) or an escape in a
description makes an XML document unparseable for every partner and an XLSX file unwritable,
and C1 characters and lone surrogates are invisible on screen but not to a terminal or a
parser. Multi-line text keeps its line breaks and tabs; one-line text gets a space for them.

`spreadsheet_cell` is applied to every value written to a CSV or XLSX export. Text that a
spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage return, and is
not simply a signed number) gets a leading apostrophe, the rule OWASP gives for CSV injection;
control characters, which XLSX cannot hold at all, are dropped there too, so rows stored before
the input was cleaned still export."""

import re
from typing import Any

# C0 except tab, line feed and carriage return; DEL; C1; UTF-16 surrogates (which a Python
# string can hold but no UTF-8 or XML can); and the two non-characters XML 1.0 excludes.
_ALWAYS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
_CONTROL = re.compile(f"[{_ALWAYS}]")
_LINE_BREAKS = re.compile(r"\r\n?|\u2028|\u2029")
_ONE_LINE_SPACES = re.compile(r"[\t\n]+")

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A signed number written as text ("-3.50", a score) is a number to a spreadsheet, not a formula.
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def clean_text(value: str | None, *, multiline: bool = False) -> str:
    """`value` without control characters, with surrounding whitespace trimmed. Line breaks
    become "\\n"; in one-line text they and tabs become one space."""
    if not value:
        return ""
    text = _LINE_BREAKS.sub("\n", str(value))
    text = _CONTROL.sub("", text)
    if not multiline:
        text = _ONE_LINE_SPACES.sub(" ", text)
    return text.strip()


def strip_control(value: str) -> str:
    """Only the characters XML 1.0 and XLSX cannot hold removed; nothing trimmed or folded.
    For writing out what is already stored."""
    return _CONTROL.sub("", value)


def spreadsheet_cell(value: Any) -> Any:
    """One exported cell. Numbers, dates and booleans stay what they are (a spreadsheet sorts
    them); None is an empty cell; text loses its control characters and is never a formula."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = strip_control(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        text = "'" + text
    return text
