"""Builds the npm package of the browser client from its one source.

    python clients/js/build.py

Writes watchtime.js (the script-tag build) and watchtime.mjs (the ES module) next to
this file from gateway/static/watchtime.js (npm runs this before packing: they are
generated, not kept in the repository), sets package.json's version to the
project's (pyproject.toml, through watchtime.__version__), and the SRI hash in the
README's script tag. tests/test_client_package.py fails until they are in sync.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import watchtime
from gateway import browser_client

HERE = Path(__file__).resolve().parent
README = HERE.parent.parent / "README.md"
SRI = re.compile(r'integrity="sha384-[A-Za-z0-9+/=]+"')


def main() -> None:
    for name, build in browser_client.builds().items():
        (HERE / name).write_text(build, encoding="utf-8")
    package_file = HERE / "package.json"
    package = json.loads(package_file.read_text(encoding="utf-8"))
    package["version"] = watchtime.__version__
    package_file.write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    integrity = browser_client.integrity(browser_client.script())
    readme = README.read_text(encoding="utf-8")
    README.write_text(SRI.sub(f'integrity="{integrity}"', readme), encoding="utf-8")
    print(f"webinar-watchtime {watchtime.__version__}: watchtime.js {integrity}")


if __name__ == "__main__":
    main()
