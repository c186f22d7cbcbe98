"""Server paths as a reader of the service may see them: relative, or named, never absolute.

Where the service keeps its evidence, candles and database is the operator's
business; a job's ``evidence`` folder is answered relative to the evidence folder
(``backtest/<run id>``), and every message a reader can see (a job's error, a
refusal, a page's note) has the service's folders replaced by their names
(``EVIDENCE_DIR``, ``DATA_DIR``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sparkbt.platform.settings import Settings

__all__ = ["PublicPaths"]


class PublicPaths:
    """The folders of one service's ``settings`` and how to show paths under them."""

    def __init__(self, settings: Settings) -> None:
        import sparkbt

        self.evidence_dir = Path(settings.evidence_dir)
        roots: dict[str, str] = {}
        named = (
            (Path(sparkbt.__file__).parent, "sparkbt"),
            (self.evidence_dir, "EVIDENCE_DIR"),
            (settings.data_dir, "DATA_DIR"),
            (settings.db_file.parent, "SERVICE_DIR"),
            (settings.audit_file.parent, "AUDIT_DIR"),
            (settings.policy_file.parent if settings.policy_file else None, "POLICY_DIR"),
        )
        for root, label in named:
            if root is not None:
                for form in {str(root), os.path.realpath(root)}:
                    roots.setdefault(form.rstrip("/") or "/", label)
        # the longest first, so a folder inside another keeps its own name
        self._roots = sorted(roots.items(), key=lambda kv: len(kv[0]), reverse=True)

    def relative(self, path: str | None) -> str | None:
        """``path`` relative to the evidence folder when inside it, else its last name."""
        if path is None:
            return None
        p = Path(path)
        for root in (self.evidence_dir, Path(os.path.realpath(self.evidence_dir))):
            if p.is_relative_to(root):
                return p.relative_to(root).as_posix()
        return p.name

    def text(self, text: str | None) -> str | None:
        """``text`` with every service folder replaced by its name."""
        if not text:
            return text
        for root, label in self._roots:
            text = text.replace(root, label)
        return text

    def scrub(self, value: Any) -> Any:
        """``value`` (JSON-like) with :meth:`text` applied to every string in it."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value
