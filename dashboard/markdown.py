"""Charts for Dagster's asset page, as Markdown (the UI renders Markdown, not scripts): bars drawn
with block characters beside the numbers, for the funnel, the attribution models and pacing."""

from __future__ import annotations

from cdp.engines.types import Warehouse

BAR_WIDTH = 24


def bar(value: float | None, largest: float) -> str:
    if not value or not largest or value <= 0:
        return ""
    eighths = round(value / largest * BAR_WIDTH * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def funnel_markdown(con: Warehouse) -> str:
    rows = con.execute(
        "select from_stage, to_stage, people_reached_from, people_reached_to, conversion_rate "
        "from marts.funnel_stage_conversion where grain = 'all' order by from_stage_order").fetchall()
    largest = max((float(r[2] or 0) for r in rows), default=0)
    lines = ["| stage | people | | to next |", "|---|---:|---|---:|"]
    for source, _, reached, _, rate in rows:
        lines.append(f"| {_cell(source)} | {int(reached or 0):,} | {bar(float(reached or 0), largest)} | "
                     f"{'' if rate is None else f'{float(rate):.1%}'} |")
    if rows:
        last = rows[-1]
        lines.append(f"| {_cell(last[1])} | {int(last[3] or 0):,} | {bar(float(last[3] or 0), largest)} | |")
    return "\n".join(lines)


def models_markdown(con: Warehouse, model: str) -> str:
    rows = con.execute(
        "select channel, spend, credited_value, roas from marts.attribution_roi "
        "where grain = 'channel' and model = ? order by credited_value desc", [model]).fetchall()
    largest = max((float(r[2] or 0) for r in rows), default=0)
    lines = [f"Credited value by channel under **{_cell(model)}**", "",
             "| channel | credited | | spend | ROAS |", "|---|---:|---|---:|---:|"]
    for channel, spend, value, roas in rows:
        lines.append(f"| {_cell(channel)} | {float(value or 0):,.0f} | {bar(float(value or 0), largest)} | "
                     f"{float(spend or 0):,.0f} | {'' if roas is None else f'{float(roas):.2f}'} |")
    return "\n".join(lines)


def pacing_markdown(con: Warehouse) -> str:
    rows = con.execute(
        "select period_month, channel, campaign, planned_spend, spend_to_date, pace_ratio, pacing_status "
        "from marts.budget_pacing where period_month = (select max(period_month) from marts.budget_pacing "
        "where days_elapsed > 0) order by channel, campaign").fetchall()
    if not rows:
        return "No plan line has started yet."
    lines = [f"Pacing for **{str(rows[0][0])[:7]}** (pace: spend to date / straight-line plan to date)", "",
             "| channel | campaign | plan | spent | pace | | status |", "|---|---|---:|---:|---:|---|---|"]
    for _, channel, campaign, planned, spent, pace, status in rows:
        shown = "" if pace is None else f"{float(pace):.0%}"
        lines.append(f"| {_cell(channel)} | {_cell(campaign)} | {float(planned or 0):,.0f} | {float(spent or 0):,.0f} "
                     f"| {shown} | {bar(min(float(pace or 0), 2.0), 2.0)} | {_cell(status)} |")
    return "\n".join(lines)
