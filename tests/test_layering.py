"""The layers import downwards only: the infrastructure packages (`realtime/`, `accel/`) import no domain
package, and no domain service or repository reaches for the accelerators. Read from the source with
`ast`, imports inside functions and `TYPE_CHECKING` blocks included."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tandem"
DOMAINS = ("auth", "orgs", "flags", "projects", "tasks", "chat", "dashboard", "telemetry")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute dotted names (`from x import y` gives
    both `x` and `x.y`: y may be a module)."""
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(
            n for n in imported(path) if any(n == f or n.startswith(f + ".") for f in forbidden)
        )
        if bad:
            found[str(path.relative_to(SRC.parent))] = bad
    return found


DOMAIN_PACKAGES = tuple(f"tandem.{d}" for d in DOMAINS)


def test_the_reader_sees_imports_everywhere(tmp_path):
    """The check itself: a function's import, a TYPE_CHECKING import and a relative one all count."""
    (tmp_path / "tandem" / "realtime").mkdir(parents=True)
    sample = tmp_path / "tandem" / "realtime" / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tandem.orgs.models import Membership\n"
        "def f():\n    import tandem.flags.service\n"
        "from ..auth import tokens\n"
    )
    global SRC
    saved, SRC = SRC, tmp_path / "tandem"
    try:
        assert offending([sample], DOMAIN_PACKAGES) == {
            "tandem/realtime/sample.py": [
                "tandem.auth",
                "tandem.auth.tokens",
                "tandem.flags.service",
                "tandem.orgs.models",
                "tandem.orgs.models.Membership",
            ],
        }
    finally:
        SRC = saved


def test_accel_imports_no_domain_package():
    assert offending(sorted((SRC / "accel").rglob("*.py")), DOMAIN_PACKAGES) == {}


def test_realtime_imports_no_domain_package():
    assert offending(sorted((SRC / "realtime").rglob("*.py")), DOMAIN_PACKAGES) == {}


def test_no_service_or_repository_imports_the_accelerators():
    layers = sorted([*SRC.rglob("service.py"), *SRC.rglob("repository.py")])
    assert layers, "no service.py found: the layout changed and this check would pass vacuously"
    assert offending(layers, ("tandem.accel", "tandem.kit.prepared")) == {}
