"""The attribution model comparison as a self-contained HTML chart: a heat map of the share of
credited value per channel (rows) and model (columns), with the credited value in each cell.
Reads marts.attribution_model_comparison (channels x models rows, never events)."""

from __future__ import annotations

import html
from pathlib import Path

from cdp.engines.types import Warehouse

MODEL_ORDER = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "u_shaped", "position_50_50",
               "w_shaped", "full_path", "j_shaped", "inverse_j", "custom", "markov", "shapley")

COMPARISON_SQL = """
    select model, channel, credited_value, share_of_value
    from marts.attribution_model_comparison where grain = 'channel'
"""


def comparison_rows(con: Warehouse) -> list[tuple[str, str, float, float]]:
    return [(m, c, float(v or 0), float(s or 0)) for m, c, v, s in con.execute(COMPARISON_SQL).fetchall()]


def render_html(rows: list[tuple[str, str, float, float]]) -> str:
    models = [m for m in MODEL_ORDER if any(r[0] == m for r in rows)]
    channels = sorted({r[1] for r in rows}, key=lambda c: (c == "unattributed", c))
    cell = {(m, c): (v, s) for m, c, v, s in rows}
    head = "".join(f"<th>{html.escape(m)}</th>" for m in models)
    body = []
    for channel in channels:
        cells = []
        for model in models:
            value, share = cell.get((model, channel), (0.0, 0.0))
            alpha = min(max(share, 0.0), 1.0) * 2.5
            cells.append(f'<td style="background: rgba(37, 99, 235, {min(alpha, 1):.3f})" '
                         f'title="{share:.1%}">{share:.1%}<br><small>{value:,.0f}</small></td>')
        body.append(f"<tr><th>{html.escape(channel)}</th>{''.join(cells)}</tr>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Attribution models side by side</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; }}
table {{ border-collapse: collapse; font-size: 12px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 6px; text-align: right; }}
th {{ background: #f5f5f5; }}
</style></head><body>
<h1>Attribution models side by side</h1>
<p>Share of credited value (and value, reporting currency) per channel and model; darker is more.</p>
<table><tr><th>channel</th>{head}</tr>
{chr(10).join(body)}
</table></body></html>
"""


def render_markdown(rows: list[tuple[str, str, float, float]], top: int = 8) -> str:
    """The heat map's numbers for Dagster's asset page: the largest channels by linear value."""
    models = [m for m in MODEL_ORDER if any(r[0] == m for r in rows)]
    cell = {(m, c): s for m, c, _, s in rows}
    linear = sorted(((v, c) for m, c, v, _ in rows if m == "linear"), reverse=True)[:top]
    lines = ["| channel | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
    for _, channel in linear:
        lines.append(f"| {channel} | " + " | ".join(f"{cell.get((m, channel), 0):.1%}" for m in models) + " |")
    return "\n".join(lines)


def write_report(con: Warehouse, path: Path) -> tuple[Path, list[tuple[str, str, float, float]]]:
    rows = comparison_rows(con)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(render_html(rows))
    temporary.replace(path)
    return path, rows
