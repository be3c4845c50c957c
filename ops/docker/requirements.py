"""Prints the project's requirements from pyproject.toml, one a line, for ``pip install -r``.

The image installs them in a layer of its own before copying the code, so a code
change rebuilds in seconds instead of reinstalling every dependency. Arguments
name optional extras to include (e.g. ``loadtest``).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise SystemExit(f"requirements.py: no such extra in {pyproject}: {', '.join(unknown)}")
    return [*project["dependencies"], *(r for extra in extras for r in optional[extra])]


def main() -> None:
    pyproject = Path("pyproject.toml")
    extras = [e for arg in sys.argv[1:] for e in arg.split(",") if e]
    print("\n".join(requirements(pyproject, extras)))


if __name__ == "__main__":
    main()
