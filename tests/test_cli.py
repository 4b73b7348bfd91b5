"""The `cdp` command: its subcommands run, and mistakes end with a message instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.cli import main
from tests.conftest import Workspace


def test_generate_then_refuse_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", "--people", "40", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "landing" / "events").is_dir()
    assert main(["generate", "--people", "40", "--seed", "3", "--out", str(tmp_path)]) == 2
    assert "cdp generate:" in capsys.readouterr().err


def test_load_and_status(sample_workspace: Workspace, capsys: pytest.CaptureFixture) -> None:
    assert main(["status"]) == 0
    assert "No warehouse" in capsys.readouterr().out
    assert main(["load"]) == 0
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    events = sample_workspace.query("select count(*) from raw.events")[0][0]
    assert events > 0
    assert any(line.split()[:2] == ["raw.events", f"{events:,}"] for line in out.splitlines())
