"""Writes the README's dashboard screenshots (docs/dashboard_*.png) from a built dashboard:

    python docs/screenshots.py [DASHBOARD_DIR]      (default: warehouse/dashboard after `make run`)
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboard.browser import browser_page, open_page

DOCS = Path(__file__).resolve().parent
SHOTS = {"overview": "index.html", "pacing": "pacing.html", "attribution": "attribution.html",
         "funnel": "funnel.html"}


def main(folder: Path) -> None:
    with browser_page(width=1280, height=900) as (page, problems):
        for name, file in SHOTS.items():
            open_page(page, (folder / file).as_uri())
            page.screenshot(path=str(DOCS / f"dashboard_{name}.png"), full_page=True)
            print(f"wrote docs/dashboard_{name}.png")
    if problems:
        raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else DOCS.parent / "warehouse" / "dashboard").resolve())
