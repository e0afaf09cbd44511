"""Generate the settings table of docs/operations.md from `config.Settings` (run this module)."""

from __future__ import annotations

import inspect
import re

from qianshu.config import Settings

_FIELD_RE = re.compile(r"^\s{4}(\w+): [^=]+=.*?(?:#\s*(.*))?$")


def _comments() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in inspect.getsource(Settings).splitlines():
        match = _FIELD_RE.match(line)
        if match and match.group(1) != "model_config":
            found[match.group(1)] = (match.group(2) or "").strip()
    return found


def _type_name(annotation: object) -> str:
    text = getattr(annotation, "__name__", None) if not hasattr(annotation, "__args__") else None
    text = text or str(annotation)
    for noise in ("typing.", "pathlib.", "pydantic.types.", "qianshu.config.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text


def settings_table() -> str:
    """Return a Markdown table of every setting: variable, type, default and its comment."""
    comments = _comments()
    lines = ["| variable | type | default | notes |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]  # no-arg factories
        shown = "(secret)" if hasattr(default, "get_secret_value") else ("—" if default is None else str(default))
        cells = [
            f"`QIANSHU_{name.upper()}`",
            _type_name(field.annotation),
            f"`{shown}`",
            comments.get(name, ""),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
