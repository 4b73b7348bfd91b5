"""The marketing plan the sample generator writes beside the ad spend (landing folder `budgets/`).

A plan is made the way a marketing team makes one: from what each paid channel spent, month by
month, moved up or down by a factor per channel and month, so that some channels run over their
plan and some under. The month holding the generation's end date is planned for the whole month
(its spend is only partly in), the month after it is planned from the last full month, and two
campaigns get plans of their own. A second file revises one line of the current month's plan, as
a team does mid-month. Targets (CPA, ROAS, pipeline) ride on the channel lines.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np

from cdp.sql_text import sql_string

#: the random stream of the plan, apart from the people's (adding budgets changes no other output)
BUDGET_STREAM = 29
#: spread of plan over actual spend (lognormal sigma): about a third of lines end >10% off plan
PLAN_SPREAD = 0.15
#: the revision is made this many days before the generation's end date
REVISED_DAYS_BEFORE_END = 5


def _month_after(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def write_budgets(con: duckdb.DuckDBPyConnection, landing: Path, end_date: date, rng: np.random.Generator) -> int:
    """Write the plan (budgets/budgets_<first month>-01.csv) and a revision made mid-month
    (budgets/budgets_<date>.csv, a name that sorts after the plan's) from landing/ad_spend; the
    number of plan lines written."""
    spend_files = sql_string(str(landing / "ad_spend" / "*.csv"))
    monthly = con.execute(f"""
        select channel, date_trunc('month', try_cast("date" as date))::date as month,
               sum(try_cast(spend as double)) as spend, count(distinct try_cast("date" as date)) as days
        from read_csv({spend_files}, all_varchar = true, header = true)
        where try_cast("date" as date) is not null
        group by all order by channel, month
    """).fetchall()
    if not monthly:
        return 0
    current = date(end_date.year, end_date.month, 1)
    lines: list[tuple[str, str, str, float, float | None, float | None, float | None]] = []
    last_full: dict[str, float] = {}
    for channel, month, spend, days in monthly:
        days_in_month = calendar.monthrange(month.year, month.month)[1]
        expected = spend / days * days_in_month if month == current else spend
        if month < current and days == days_in_month:
            last_full[channel] = spend
        planned = round(expected * float(rng.lognormal(0.0, PLAN_SPREAD)), -1)
        lines.append((month.strftime("%Y-%m"), channel, "", planned, round(float(rng.uniform(40, 160)), 2),
                      round(float(rng.uniform(1.5, 4.0)), 2), round(planned * float(rng.uniform(3, 8)), -2)))
    following = _month_after(current).strftime("%Y-%m")
    for channel, spend in sorted(last_full.items()):
        lines.append((following, channel, "", round(spend * float(rng.uniform(0.9, 1.2)), -1), None, None, None))
    # the two largest campaigns of the current month get a share of their channel's plan
    campaigns = con.execute(f"""
        select channel, campaign, spend / sum(spend) over (partition by channel) as share
        from (
            select channel, campaign, sum(try_cast(spend as double)) as spend
            from read_csv({spend_files}, all_varchar = true, header = true)
            where date_trunc('month', try_cast("date" as date)) = date '{current.isoformat()}'
            group by channel, campaign
        )
        order by spend desc, channel, campaign limit 2
    """).fetchall()
    channel_plan = {line[1]: line[3] for line in lines if line[0] == current.strftime("%Y-%m")}
    for channel, campaign, share in campaigns:
        lines.append((current.strftime("%Y-%m"), channel, campaign,
                      round(channel_plan[channel] * share * float(rng.lognormal(0.0, PLAN_SPREAD)), -1),
                      None, None, None))
    folder = landing / "budgets"
    folder.mkdir(parents=True, exist_ok=True)
    header = "period,channel,campaign,planned_spend,currency,target_cpa,target_roas,target_pipeline\n"

    def render(rows: list) -> str:
        return header + "".join(
            f"{p},{ch},{ca},{sp:.2f},USD,{'' if cpa is None else f'{cpa:.2f}'},"
            f"{'' if roas is None else f'{roas:.2f}'},{'' if pipe is None else f'{pipe:.2f}'}\n"
            for p, ch, ca, sp, cpa, roas, pipe in rows)

    first_month = min(month for _, month, _, _ in monthly)
    (folder / f"budgets_{first_month.isoformat()}.csv").write_text(render(lines))
    # mid-month, the team moves money into the current month's largest channel
    revised = max((line for line in lines if line[0] == current.strftime("%Y-%m") and not line[2]),
                  key=lambda line: line[3])
    revised_on = end_date - timedelta(days=REVISED_DAYS_BEFORE_END)
    (folder / f"budgets_{revised_on.isoformat()}.csv").write_text(
        render([(*revised[:3], round(revised[3] * 1.2, -1), *revised[4:])]))
    return len(lines)
