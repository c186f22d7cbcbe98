"""The service's OpenAPI document: bodies of routes that read their body themselves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["document_body"]


def document_body(app: FastAPI, path: str, model: type[BaseModel]) -> None:
    """List ``model`` as the JSON body of ``POST path`` in the app's OpenAPI document.

    For routes that read their body themselves (to limit its size and keep one
    error format) FastAPI cannot see the model; this adds it, with every model
    it refers to under ``components/schemas``.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = build()
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        doc["paths"][path]["post"]["requestBody"] = {
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            }
        }
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
