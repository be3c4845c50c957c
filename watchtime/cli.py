"""The command line every console script shares: ``--help`` and ``--version``.

The commands take no other arguments: their settings are environment variables, read
and validated by ``watchtime.settings``.
"""

from __future__ import annotations

import argparse

from watchtime import __version__

EPILOG = "Settings are environment variables: see the README's Configuration section."


def parse(program: str, doc: str | None) -> None:
    """Answers ``--help`` or ``--version`` and exits; refuses any other argument."""
    parser = argparse.ArgumentParser(
        prog=program,
        description=doc,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.parse_args()
