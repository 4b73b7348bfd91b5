"""The documentation stays true: the configuration table is the settings module's, the README's
commands exist, its links resolve, and it stays short enough for a newcomer to read."""

from __future__ import annotations

import re

from orchestration.cli import build_parser
from orchestration.settings import ENVIRONMENT, REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
CONFIGURATION = (REPO_ROOT / "docs" / "configuration.md").read_text()
CLI_GUIDE = (REPO_ROOT / "docs" / "cli.md").read_text()
#: a third of the 7,260 words the README had when it read like a lab notebook (issue 32)
README_MOST_WORDS = 2420


def _configuration_rows(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| `(CDP_[A-Z_]+)` \| `([^`]*)` \|", text, flags=re.M))


def test_every_environment_variable_is_documented_with_its_default() -> None:
    defaults = {name: default for name, (default, _) in ENVIRONMENT.items()}
    assert _configuration_rows(CONFIGURATION) == defaults
    shown = _configuration_rows(README)
    assert shown and shown.items() <= defaults.items(), "the README's short table must match the settings"


def test_the_readme_is_short_and_its_links_resolve() -> None:
    assert len(README.split()) <= README_MOST_WORDS
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links and all((REPO_ROOT / link).exists() for link in links), links


def test_the_two_commands_and_the_cli_subcommands_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, flags=re.M) and re.search(r"^test: ", makefile, flags=re.M)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    documented = set(re.findall(r"\.venv/bin/cdp ([\w-]+)", README + CLI_GUIDE))
    known = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert documented and documented <= known


def test_imports_run_one_way() -> None:
    """The domain libraries never import the Dagster layer, and reverse_etl never imports the
    orchestration package (the application uses the library, not the other way round)."""
    import ast

    def imported(package: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO_ROOT)))
        return found

    reverse_etl = imported("reverse_etl")
    assert "orchestration" not in reverse_etl and "dagster" not in reverse_etl, reverse_etl
    for library in ("ingest", "quality", "engines", "sample_data", "rules"):
        found = imported(f"orchestration/{library}")
        layer = {p for name in ("dagster", "dagster_dbt") for p in found.get(name, set())}
        assert layer == set(), f"orchestration/{library} imports Dagster: {sorted(layer)}"
    dashboard = imported("dashboard")
    assert "dagster" not in dashboard and "dagster_dbt" not in dashboard, dashboard
    assert dashboard.get("orchestration", set()) <= {
        "dashboard/build.py", "dashboard/markdown.py"}, "the dashboard only borrows the warehouse type"


def test_exposures_name_the_dashboard_and_every_sync() -> None:
    """dbt's lineage shows who consumes what: an exposure per sync of reverse_etl/syncs.yml reading its
    audience and the suppression audiences, and the dashboard reading every mart its pages query."""
    import yaml

    from dashboard import load_spec

    exposures = {e["name"]: e for e in yaml.safe_load(
        (REPO_ROOT / "dbt_project" / "models" / "_exposures.yml").read_text())["exposures"]}
    syncs = yaml.safe_load((REPO_ROOT / "reverse_etl" / "syncs.yml").read_text())
    for name, sync in syncs["syncs"].items():
        reads = set(exposures[f"sync_{name}"]["depends_on"])
        assert {f"ref('{sync['audience']}')", *(f"ref('{a}')" for a in syncs["suppression"])} == reads, name
    assert len(exposures) == len(syncs["syncs"]) + 1
    queried = {m for page in load_spec().pages for tile in page.tiles
               for m in re.findall(r"marts\.(\w+)", tile.sql)}
    assert {f"ref('{m}')" for m in queried} == set(exposures["marketing_dashboard"]["depends_on"])
