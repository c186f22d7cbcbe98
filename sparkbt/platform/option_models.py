"""The service's request model of the engine options, generated from the option specs.

Each engine option is a documented field of ``EngineOptions`` (its JSON type,
default, valid values and the one help text of the spec), so ``/openapi.json``
lists every option. The model documents and shapes; it does not judge values:
those go to the engine's ``Config`` as they are, so the API refuses exactly
what ``sparkbt run`` refuses, with the same one-line reason. Unknown names are
kept and refused by the engine with a did-you-mean hint.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from sparkbt.engine import options as option_specs
from sparkbt.engine.option_spec import OptionSpec

__all__ = ["OptionsBody", "engine_options_model"]


class OptionsBody(BaseModel):
    """Base of the generated model: unknown names are kept for the engine to refuse."""

    model_config = ConfigDict(extra="allow")

    def given(self) -> dict[str, Any]:
        """The options the request named, in its order, values unchecked."""
        named = {k: getattr(self, k) for k in self.model_fields_set if k in type(self).model_fields}
        return named | dict(self.model_extra or {})


def _field(spec: OptionSpec) -> tuple[Any, Any]:
    schema: dict[str, Any] = {"type": spec.json_type}
    if spec.choices:
        schema["enum"] = list(spec.choices)
    if spec.bounds and not spec.choices:
        schema["x-valid"] = spec.bounds
    return (Any, Field(spec.default, description=spec.help, json_schema_extra=schema))


def engine_options_model() -> type[OptionsBody]:
    """``EngineOptions``: one documented field per spec in ``OPTIONS`` (read now)."""
    fields: dict[str, Any] = {s.name: _field(s) for s in option_specs.OPTIONS}
    return create_model(
        "EngineOptions",
        __base__=OptionsBody,
        __module__=__name__,
        __doc__="Engine options (docs/options.md); each unset one takes its default.",
        **fields,
    )
