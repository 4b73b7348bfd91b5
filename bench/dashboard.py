"""The dashboard at scale: building it from a serving copy, and opening each page in Chromium.

    python -m bench.dashboard SERVING_COPY [--repeat 3]

SERVING_COPY is the cdp_serving.duckdb of a run (bench.pipeline leaves one per size under
bench/work/pipeline/). Build: every tile's query plus writing the pages, timed whole, `--repeat`
times. Open: from navigation start until the renderer has drawn every tile (body[data-rendered]),
each page `--repeat` times in one headless Chromium (Debian's, via Playwright). Prints a table and
writes bench/results/dashboard_<time>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dashboard import build_dashboard
from dashboard.browser import browser_page, open_page

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("serving_copy", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    con = duckdb.connect(str(args.serving_copy), read_only=True)
    profiles = con.execute("select count(*) from marts.dim_profiles").fetchone()[0]
    with tempfile.TemporaryDirectory(prefix="cdp-dashboard-bench-") as scratch:
        out = Path(scratch) / "dashboard"
        builds = []
        for _ in range(args.repeat):
            build = build_dashboard(con, out)
            builds.append(build.seconds)
        con.close()
        opens: dict[str, list[float]] = {}
        sizes = {}
        with browser_page() as (page, problems):
            for slug, path in build.pages.items():
                sizes[slug] = path.stat().st_size
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    open_page(page, path.as_uri(), timeout_ms=60_000)
                    opens.setdefault(slug, []).append(time.perf_counter() - started)
        if problems:
            raise SystemExit("\n".join(problems))
    result = {
        "when": datetime.now(UTC).isoformat(), "machine": platform.platform(), "serving_copy": str(args.serving_copy),
        "profiles": profiles, "rows_embedded": build.rows, "build_seconds": builds,
        "open_seconds": opens, "page_bytes": sizes,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"dashboard_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{profiles:,} profiles; {build.rows:,} rows embedded; build median {statistics.median(builds):.2f}s "
          f"(of {args.repeat})")
    print(f"{'page':<14}{'KiB':>8}{'open median s':>15}{'max s':>8}")
    for slug, times in opens.items():
        print(f"{slug:<14}{sizes[slug] / 1024:>8.0f}{statistics.median(times):>15.2f}{max(times):>8.2f}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
