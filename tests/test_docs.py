"""The documentation stays true: the configuration table is the settings module's, the README's
commands exist, its links resolve, and it stays short enough for a newcomer to read."""

from __future__ import annotations

import re
from pathlib import Path

from cdp.cli import build_parser
from cdp.settings import ENVIRONMENT, REPO_ROOT

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
    """Imports run downward only (DESIGN.md, "Packages and the way imports run"): the ground floor
    (settings, the warehouse interface and engines, the ops schema) imports none of the libraries
    above it; the domain libraries (cdp's ingest, quality, privacy, attribution, sample data, ...;
    reverse_etl; dashboard) never import the Dagster layer (`orchestration`, dagster) or the CLI; only
    the CLI imports the orchestration package."""
    import ast

    def imports(path: Path) -> set[str]:
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
        return found

    def module(path: Path) -> str:
        return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")

    ground = ("cdp.settings", "cdp.typed_config", "cdp.warehouse", "cdp.engines", "cdp.sql_text", "cdp.ops_schema",
              "cdp.run_lock", "cdp.build_state", "cdp.gate_thresholds")
    ours = ("cdp", "orchestration", "reverse_etl", "dashboard")
    modules = {module(p): imports(p) for package in ours for p in (REPO_ROOT / package).rglob("*.py")}
    assert len([m for m in modules if m.startswith("cdp.")]) > 40, "the walk found the cdp package"

    def under(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    upward = {m: sorted(i for i in found if under(i, ours) and not under(i, ground))
              for m, found in modules.items() if under(m, ground)}
    assert {m: i for m, i in upward.items() if i} == {}, "the ground floor imports a library above it"
    dagster_layer = ("orchestration", "dagster", "dagster_dbt", "dagster_webserver", "cdp.cli")
    domain = {m: sorted(i for i in found if under(i, dagster_layer))
              for m, found in modules.items() if not under(m, ("orchestration", "cdp.cli"))}
    assert {m: i for m, i in domain.items() if i} == {}, "a domain library imports the Dagster layer or the CLI"
    assert not any(under(i, ("cdp.cli",)) for m, found in modules.items() for i in found if m != "cdp.cli")


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


def test_every_import_of_our_code_resolves() -> None:
    """Each `from <our package> import <name>` in the code, also the ones inside functions (which run
    only on some paths, such as an engine's loader), names a module or attribute that exists."""
    import ast
    import importlib
    import importlib.util

    def exists(module: object, name: str) -> bool:
        if hasattr(module, name):
            return True
        try:
            return importlib.util.find_spec(f"{module.__name__}.{name}") is not None
        except ModuleNotFoundError:  # the module is not a package
            return False

    ours = ("cdp", "orchestration", "reverse_etl", "dashboard", "tests", "bench")
    missing = []
    for package in ours:
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.split(".")[0] in ours):
                    continue
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not exists(module, alias.name):
                        missing.append(f"{path.relative_to(REPO_ROOT)}: {node.module}.{alias.name}")
    assert missing == []
