"""House rules that code review alone would miss (STYLE.md rules 4, 7, 16)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "qianshu"
DOMAINS = sorted(
    p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "migrations"
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def test_domains_never_import_each_others_models() -> None:
    offenders = []
    for domain in DOMAINS:
        for path in (SRC / domain).rglob("*.py"):
            for name in _imports(path):
                parts = name.split(".")
                crosses = len(parts) >= 3 and parts[0] == "qianshu" and parts[1] in DOMAINS and parts[1] != domain
                if crosses and parts[2] == "models" and domain != "core":
                    offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


def test_no_grab_bag_modules() -> None:
    bad = [p for p in SRC.rglob("*.py") if p.stem in {"utils", "helpers", "common", "misc"}]
    assert bad == []


def test_only_the_clock_reads_the_wall_clock() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "clock.py":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now(", "datetime.utcnow(", "time.time()"):
            if needle in text:
                offenders.append(f"{path.relative_to(SRC)}: {needle}")
    assert offenders == []


def test_only_config_reads_the_environment() -> None:
    offenders = []
    for p in SRC.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        if p.name != "config.py" and ("os.environ" in text or "os.getenv" in text):
            offenders.append(str(p.relative_to(SRC)))
    assert offenders == []
