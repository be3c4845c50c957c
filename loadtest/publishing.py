"""How a benchmark reports: its options (``--output``, BENCHMARKS.md), a scratch folder
for its servers while it measures, the command line it ran as, and its Markdown section,
printed and appended to ``--output``."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Figures = TypeVar("Figures")


def main(
    doc: str | None,
    module: str,
    measure: Callable[..., Any],
    section: Callable[[Any, str], str],
    **defaults: float,
) -> None:
    """A benchmark whose options are numbers: ``--name`` for each of ``defaults`` (its
    type the default's), ``measure(folder, **options)`` (a coroutine function or not)."""
    command = parser(doc)
    for name, default in defaults.items():
        command.add_argument(f"--{name}", type=type(default), default=default)
    options = vars(command.parse_args())
    output = options.pop("output")

    def measured(folder: Path) -> Any:
        figures = measure(folder, **options)
        return asyncio.run(figures) if inspect.iscoroutine(figures) else figures

    measure_and_publish(module, measured, section, output)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: ``--output`` and what the benchmark adds."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    return parser


def measure_and_publish(
    module: str,
    measure: Callable[[Path], Figures],
    section: Callable[[Figures, str], str],
    output: Path,
    argv: list[str] | None = None,
) -> None:
    """``measure`` in a scratch folder (removed after), then its ``section`` published."""
    with tempfile.TemporaryDirectory(prefix=f"watchtime-{module.rpartition('.')[2]}-") as folder:
        figures = measure(Path(folder))
    publish(section(figures, command_line(module, argv)), output)


def command_line(module: str, argv: list[str] | None = None) -> str:
    """How this benchmark was run, as BENCHMARKS.md records it: ``argv`` as given to its
    ``main``, else the command line's."""
    return " ".join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def publish(section: str, output: Path) -> None:
    """Prints a benchmark's Markdown section and appends it to ``output``."""
    print(section)
    with output.open("a") as out:
        out.write(section)
