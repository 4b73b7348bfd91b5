"""The README stays true: its configuration table is the settings module's, and its commands exist."""

from __future__ import annotations

import re

from orchestration.cli import build_parser
from orchestration.settings import ENVIRONMENT, REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_environment_variable_is_documented_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(CDP_[A-Z_]+)` \| `([^`]*)` \|", README, flags=re.M))
    assert rows == {name: default for name, (default, _) in ENVIRONMENT.items()}


def test_the_two_commands_and_the_cli_subcommands_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, flags=re.M) and re.search(r"^test: ", makefile, flags=re.M)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    documented = set(re.findall(r"\.venv/bin/cdp ([\w-]+)", README))
    known = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert documented and documented <= known
