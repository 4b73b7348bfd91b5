"""A run launched from the Dagster UI against `cdp run`, on the bundled sample, each on a fresh warehouse.

    python -m bench.ui_launch [--repeat 1]

The UI side is what a person clicking "Materialize all" gets: `cdp dev` (dg dev: webserver,
daemon, code server) on the warehouse's own instance, and the `cdp_pipeline` job submitted through
the webserver's GraphQL API (what the UI's launch button calls); its time is the run's start to end
as the instance recorded it. The CLI side is `cdp run`'s own reported time. Prints both and writes
bench/results/ui_launch_<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_graphql import DagsterGraphQLClient

from cdp.settings import REPO_ROOT

RESULTS = Path(__file__).resolve().parent / "results"
CDP = str(Path(sys.executable).with_name("cdp"))


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"CDP_WAREHOUSE": str(folder / "warehouse" / "cdp.duckdb"),
                "CDP_EXPORT_DIR": str(folder / "exports"), "CDP_GX_DIR": str(folder / "warehouse" / "gx"),
                "CDP_LANDING_DIR": str(REPO_ROOT / "seeds" / "landing")})
    return env


def cli_run(folder: Path) -> float:
    done = subprocess.run([CDP, "run"], env=_environment(folder), capture_output=True, text=True, check=True)
    return float(re.search(r"cdp run succeeded in ([0-9.]+)s", done.stdout).group(1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ui_run(folder: Path) -> float:
    port = _free_port()
    server = subprocess.Popen([CDP, "dev", "-p", str(port)], env=_environment(folder), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while True:  # the webserver answers once the code location has loaded
            try:
                client = DagsterGraphQLClient("127.0.0.1", port_number=port)
                run_id = client.submit_job_execution("cdp_pipeline")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(2)
        while client.get_run_status(run_id) not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
                                                    dg.DagsterRunStatus.CANCELED):
            time.sleep(1)
        with dg.DagsterInstance.from_config(str(folder / "warehouse" / "dagster")) as instance:
            record = instance.get_run_record_by_id(run_id)
            assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS, f"the UI run {run_id} did not succeed"
            return record.end_time - record.start_time
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    cli, ui = [], []
    for _ in range(args.repeat):
        for seconds, run in ((cli, cli_run), (ui, ui_run)):
            folder = Path(tempfile.mkdtemp(prefix="cdp-ui-bench-"))
            try:
                seconds.append(run(folder))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        print(f"cdp run {cli[-1]:.1f}s   UI-launched run {ui[-1]:.1f}s   ratio {ui[-1] / cli[-1]:.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ui_launch_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"machine": platform.node(), "cdp_run_seconds": cli, "ui_run_seconds": ui}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
