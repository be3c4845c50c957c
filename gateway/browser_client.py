"""The browser client's builds, all from one source (``gateway/static/watchtime.js``,
R-CLIENT): that file is the script-tag build as it is, and the ES module is that file
followed by its exports. ``clients/js/build.py`` writes both into the npm package when it
is packed; they are not kept in the repository, so there is one copy to edit."""

from __future__ import annotations

import base64
import hashlib
from importlib.resources import files

MODULE_HEADER = "// Generated from watchtime.js (the script-tag build): edit that file instead.\n"
MODULE_FOOTER = "\nexport default WatchTime;\nexport const {start} = WatchTime;\n"


def script() -> str:
    """The script-tag build: the source itself."""
    return (files("gateway") / "static" / "watchtime.js").read_text(encoding="utf-8")


def module(source: str) -> str:
    """The ES module: the source's one top-level ``var`` stays private to the module."""
    return MODULE_HEADER + source + MODULE_FOOTER


def builds() -> dict[str, str]:
    """The npm package's generated files, by name."""
    source = script()
    return {"watchtime.js": source, "watchtime.mjs": module(source)}


def integrity(build: str) -> str:
    """The Subresource Integrity value of a build, for ``<script integrity=…>``."""
    digest = hashlib.sha384(build.encode("utf-8")).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")
