"""Speed-ups that reach into a library's private parts, each behind an exact version check.

Every accelerator here was written against exact releases of the libraries whose internals it
touches. It declares them (`Accelerator.requires`, also pinned with `==` in pyproject.toml);
at start-up `check()` compares them with what is installed, and an accelerator whose library
differs is switched off with one warning, so Tandem runs the library's stock path instead.
`TANDEM_ACCEL=off` switches every accelerator off (CI runs the socket and delivery tests that
way too, so the stock path keeps working). Nothing outside `accel/` touches a library's
private attributes, and nothing here imports a domain package.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib import metadata

logger = logging.getLogger("tandem.accel")

ENV = "TANDEM_ACCEL"


@dataclass(frozen=True)
class Accelerator:
    name: str
    summary: str
    requires: dict[str, str] = field(default_factory=dict)  # distribution -> the exact version


_registry: dict[str, Accelerator] = {}
_verdicts: dict[str, bool] = {}


def register(accelerator: Accelerator) -> Accelerator:
    _registry[accelerator.name] = accelerator
    _verdicts.pop(accelerator.name, None)
    return accelerator


def switched_off() -> bool:
    """True when TANDEM_ACCEL=off (or 0, false, no): every accelerator runs the stock path."""
    return os.environ.get(ENV, "on").strip().lower() in ("off", "0", "false", "no")


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def mismatches(accelerator: Accelerator) -> list[str]:
    """What differs from the versions the accelerator was written against ("pkg 1.2 (wants 1.1)")."""
    found = []
    for distribution, wanted in accelerator.requires.items():
        have = installed_version(distribution)
        if have != wanted:
            found.append(f"{distribution} {have or 'missing'} (written for {wanted})")
    return found


def enabled(name: str) -> bool:
    """Whether the named accelerator may run; the first call for a mismatched one logs the warning."""
    if switched_off():
        return False
    verdict = _verdicts.get(name)
    if verdict is None:
        accelerator = _registry[name]
        problems = mismatches(accelerator)
        verdict = not problems
        if problems:
            logger.warning(
                "accelerator %s is off, running the stock library path: %s",
                name,
                "; ".join(problems),
            )
        _verdicts[name] = verdict
    return verdict


def check() -> dict[str, bool]:
    """Decide every registered accelerator once (at start-up); returns name -> on."""
    return {name: enabled(name) for name in sorted(_registry)}


def load_all() -> None:
    """Import every module of this package, so that each registers its accelerators."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def log_table() -> dict[str, bool]:
    """Load and check every accelerator and log, in one line, which are on (the start-up report)."""
    load_all()
    verdicts = check()
    on = [name for name, ok in verdicts.items() if ok]
    off = [name for name, ok in verdicts.items() if not ok]
    if switched_off():
        logger.info("accelerators: all off (%s=off), every library runs its stock path", ENV)
    else:
        logger.info(
            "accelerators on: %s; off: %s", ", ".join(on) or "none", ", ".join(off) or "none"
        )
    return verdicts


def reset() -> None:
    """Forget the verdicts (tests that change versions or TANDEM_ACCEL)."""
    _verdicts.clear()
