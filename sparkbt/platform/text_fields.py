"""Request-model field types for stored text: control characters refused with a 422.

:data:`Line` and :data:`Text` are ``str`` fields checked by
:func:`sparkbt.platform.text.check_text`; :func:`values_of_field` checks every
string inside a mapping field (``params``, ``options``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

from sparkbt.platform.text import check_text, check_values

__all__ = ["Line", "Text", "values_of_field"]


def values_of_field(value: Any, info: ValidationInfo) -> Any:
    """:func:`check_values` as a pydantic field validator, naming the field."""
    return check_values(value, str(info.field_name))


Line = Annotated[str, AfterValidator(check_text)]
"""One line of stored text: no control characters at all."""
Text = Annotated[str, AfterValidator(lambda v: check_text(v, multiline=True))]
"""Stored free text (a note, a comment, a reason): newlines and tabs, no other control."""
