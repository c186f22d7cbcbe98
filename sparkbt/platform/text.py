"""Stored text without terminal control codes: refused at input, escaped at output.

Notes, comments, reasons, names and parameter strings are stored and later shown
in an approver's terminal (``sparkbt guard show``) and in the web UI. A control
character in them could clear the screen, forge lines or write the clipboard
(OSC 52), so every request model refuses them (:mod:`sparkbt.platform.text_fields`
builds its field types on :func:`check_text` and :func:`check_values`: a one-line
422) and every CLI printer passes stored text through :func:`printable`, which
also covers what was stored before. Nothing here needs pydantic, so the CLI
clients import it without the ``service`` extra.

Control characters are C0 (U+0000-U+001F, ESC among them), DEL and C1
(U+0080-U+009F); a multi-line :data:`Text` may keep newlines and tabs.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["check_text", "check_values", "printable"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def check_text(value: str, multiline: bool = False) -> str:
    """``value`` unless it holds a control character (newlines and tabs are allowed when
    ``multiline``), else a ValueError naming the first one."""
    found = (_CONTROL_BUT_LINES if multiline else _CONTROL).search(value)
    if found is not None:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()} "
            "is not allowed"
        )
    return value


def check_values(value: Any, what: str = "params") -> Any:
    """``value`` unless a string in it (a key or a value, at any depth) holds a control
    character (a ValueError naming where)."""
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_values(key, what)
            check_values(item, f"{what}.{key}" if isinstance(key, str) else what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_values(item, what)
    return value


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: Any) -> str:
    """``text`` (any value, as ``str``) safe for a terminal: each control character but a
    newline or tab is shown as its ``\\xNN`` escape instead of being sent raw."""
    return _CONTROL_BUT_LINES.sub(_escape, str(text))
