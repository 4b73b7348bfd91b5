"""The marketing dashboard: static pages built from the marts (budget pacing, forecast, KPIs,
funnel, pipeline, attribution, activation, data health) after every run whose gates passed.

Public API: `build_dashboard(con, out_dir)` and `load_spec()`; the pages are data in pages.yml.
"""

from dashboard.build import DashboardBuild, TileError, build_dashboard
from dashboard.spec import DashboardSpec, SpecError, load_spec

__all__ = ["DashboardBuild", "DashboardSpec", "SpecError", "TileError", "build_dashboard", "load_spec"]
