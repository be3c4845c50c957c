"""The contract in docs/: the repository stands alone (no link leaves it, every relative
link resolves), every requirement id the code cites is defined there, and every setting
the code reads is documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import routes_of

from gateway.app import create_app
from gateway.openapi import document
from watchtime.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *ROOT.glob("CHANGELOG.md"), *DOCS.glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
REQUIREMENT = re.compile(r"\bR-[A-Z]+(?:-\d+)?\b")
# The contract's ids: each family, and each numbered rule of it.
CONTRACT = {
    "R-ARCH",
    "R-STATE",
    "R-SEM",
    "R-PG",
    "R-API",
    "R-AUTH",
    "R-STATS",
    "R-CLIENT",
    "R-OPS",
    "R-OBS",
    "R-SCALE",
    "R-EXT",
    *(f"R-ARCH-{n}" for n in range(1, 6)),
    *(f"R-SEM-{n}" for n in range(1, 8)),
    *(f"R-PG-{n}" for n in range(1, 6)),
    *(f"R-EXT-{n}" for n in range(1, 7)),
}


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    return [ROOT / name for name in listed.stdout.splitlines()]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def defined_ids() -> set[str]:
    """Ids defined in docs/: named in a heading, or in bold where a rule is stated."""
    ids: set[str] = set()
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        for heading in re.findall(r"^#+ .+$", text, re.MULTILINE):
            ids |= set(REQUIREMENT.findall(heading))
        ids |= set(re.findall(r"\*\*(R-[A-Z]+(?:-\d+)?)\b", text))
    return ids


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_link_leaves_the_repository_and_every_link_resolves(page: Path) -> None:
    text = page.read_text()
    for target in LINK.findall(text):
        if re.match(r"https?://", target):
            continue  # a web page, not a file
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: no heading for {target}"


def test_every_requirement_id_the_code_cites_is_defined_in_docs() -> None:
    cited: dict[str, set[str]] = {}
    for file in tracked_files():
        if DOCS in file.parents or file.name == "CHANGELOG.md" or not file.is_file():
            continue
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            continue  # not text
        for requirement in REQUIREMENT.findall(text):
            cited.setdefault(requirement, set()).add(str(file.relative_to(ROOT)))
    defined = defined_ids()
    assert {"R-SEM-2", "R-ARCH-3", "R-PG-4"} <= set(cited)  # the scan finds what is there
    undefined = {
        requirement: files for requirement, files in cited.items() if requirement not in defined
    }
    assert undefined == {}
    assert defined >= CONTRACT


class Environment(dict[str, str]):
    """An empty environment that remembers every variable asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.append(name)
        return super().get(name, default)

    def __getitem__(self, name: str) -> str:
        self.asked.append(name)
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        self.asked.append(str(name))
        return super().__contains__(name)


def test_every_setting_the_code_reads_is_documented_in_operations() -> None:
    environment = Environment()
    Settings.from_env(environment)
    variables = list(dict.fromkeys(environment.asked))
    assert "SESSION_HEARTBEAT_INTERVAL_SECONDS" in variables
    documented = (DOCS / "operations.md").read_text()
    assert [v for v in variables if f"`{v}`" not in documented] == []


def test_the_readme_points_at_the_contract_in_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "[docs/](docs/README.md)" in readme


def readme_api_table() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| method, path |")
    return readme[start : readme.index("\n\n", start)].splitlines()


def test_the_readme_api_table_lists_every_endpoint_with_its_parameters() -> None:
    doc = document(routes_of(create_app(Settings())))
    rows = readme_api_table()
    for path, operations in doc["paths"].items():
        short = path.replace("/api/webinars/{webinar_id}/", "…/").replace("{webinar_id}", "{id}")
        for method, operation in operations.items():
            named = f"`{method.upper()} {short}`"
            (row,) = [row for row in rows if named in row] or [f"no row names {named}"]
            assert row.startswith(f"| {named}") or f", {named}" in row, row
            for parameter in operation["parameters"]:
                if parameter["in"] == "query":
                    assert f"`{parameter['name']}`" in row or f"?{parameter['name']}=" in row
    assert any("`GET …/stats/concurrency`" in row for row in rows)
