"""Temporary files left behind by writers that were killed before they finished.

Evidence folders and candle files are written under a temporary name next to
their final one and renamed into place. A writer killed in between leaves that
temporary entry behind; the next writer in the same folder removes it once
nothing in it has changed for :data:`STALE_AFTER_S` seconds, long enough that
no live writer is still filling it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["STALE_AFTER_S", "remove_stale"]

STALE_AFTER_S = 15 * 60
"""Age (seconds since the last change) after which a temporary entry is abandoned."""


def _last_change(entry: os.DirEntry[str]) -> float:
    """Newest mtime of the entry and, for a folder, of what is directly inside it."""
    newest = entry.stat(follow_symlinks=False).st_mtime
    if entry.is_dir(follow_symlinks=False):
        with os.scandir(entry.path) as inner:
            for child in inner:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return newest


def remove_stale(
    folder: Path,
    is_temp: Callable[[os.DirEntry[str]], bool],
    older_than: float = STALE_AFTER_S,
) -> list[str]:
    """Remove the entries of ``folder`` that ``is_temp`` and unchanged for ``older_than`` s.

    Returns the names removed. Entries that vanish meanwhile (another writer
    finished or removed them) or cannot be removed are skipped: cleaning up
    never makes a write fail.
    """
    removed: list[str] = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        try:
            if not is_temp(entry) or _last_change(entry) > cutoff:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:  # vanished meanwhile, or not ours to remove: leave it
            continue
        removed.append(entry.name)
    return removed
