"""What the TUI keeps between runs beside the state database: the theme, and the answers
typed into a form but not applied yet (secrets never)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

SETTINGS_FILE = "tui.json"


class TuiSettings:
    """A small JSON file; a missing or unreadable one is an empty one (nothing in it matters
    enough to stop the wizard)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self.data = loaded

    @property
    def theme(self) -> str:
        """The theme chosen last, or ""."""
        theme = self.data.get("theme", "")
        return theme if isinstance(theme, str) else ""

    @theme.setter
    def theme(self, name: str) -> None:
        self.data["theme"] = name
        self.save()

    def draft(self, host: str, step_id: str) -> dict[str, str | bool]:
        """The answers typed for a step of a host and not applied yet."""
        drafts = self.data.get("drafts", {})
        draft = drafts.get(host, {}).get(step_id, {}) if isinstance(drafts, dict) else {}
        if not isinstance(draft, dict):
            return {}
        return {str(k): v for k, v in draft.items() if isinstance(v, str | bool)}

    def keep_draft(self, host: str, step_id: str, answers: dict[str, Any]) -> None:
        """Keep the typed answers (the caller leaves secrets out)."""
        drafts = self.data.setdefault("drafts", {})
        drafts.setdefault(host, {})[step_id] = answers
        self.save()

    def drop_draft(self, host: str, step_id: str) -> None:
        """The step was applied with them: the form starts from the applied answers again."""
        host_drafts = self.data.get("drafts", {}).get(host, {})
        if step_id in host_drafts:
            del host_drafts[step_id]
            self.save()

    def save(self) -> None:
        """Write the file readable by its owner only (drafts may name addresses and users)."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.data, out, indent=1, sort_keys=True)
            temporary.replace(self.path)
