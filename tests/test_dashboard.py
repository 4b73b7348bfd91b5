"""The dashboard in a real headless browser: every page opens offline without console errors, the
KPIs it shows are the marts' numbers, filters change them as the marts say, and data never becomes
markup or script."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from cdp.cli import main as cli_main
from dashboard import DashboardSpec, SpecError, TileError, build_dashboard, load_spec
from dashboard.browser import open_page
from tests.browser import browser_page
from tests.conftest import SAMPLE_LANDING, GoodRun, Workspace

pytestmark = pytest.mark.slow(seconds=10)

KPIS = ("spend", "attributed_revenue", "marketing_efficiency_ratio", "roas", "cac", "pipeline_sourced",
        "qualified_to_next_rate", "new_customers", "budget_pace_ratio")


@pytest.fixture
def run(sample_good_run: GoodRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    return sample_good_run.workspace(tmp_path, monkeypatch)


def _serving(ws: Workspace, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(ws.settings.serving_warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _kpis_shown(page) -> dict[str, str]:
    return page.eval_on_selector_all("#tile-headline [data-kpi]",
                                     "cards => Object.fromEntries(cards.map(c => [c.dataset.kpi, c.dataset.value]))")


def _assert_kpis(shown: dict[str, str], ws: Workspace, month: str | None, model: str) -> None:
    columns = ", ".join(KPIS)
    row, = _serving(ws, f"select {columns} from marts.marketing_kpis where attribution_model = ? and "
                        + ("month = cast(? as date)" if month else "grain = 'all' and ? is null"), [model, month])
    for name, expected in zip(KPIS, row, strict=True):
        if expected is None:
            assert shown[name] == "", name
        else:
            assert float(shown[name]) == pytest.approx(float(expected), rel=1e-12), name


def test_every_page_opens_offline_and_shows_the_marts_numbers(run: Workspace) -> None:
    folder = run.settings.dashboard_dir
    spec = load_spec()
    assert sorted(p.name for p in folder.glob("*.html")) == sorted(f"{p.slug}.html" for p in spec.pages)
    default_model, = _serving(run, "select max(attribution_model) from marts.budget_pacing")[0]
    with browser_page() as (page, problems):
        for each in spec.pages:
            open_page(page, (folder / f"{each.slug}.html").as_uri())
            # every chart drew (Plotly adds its SVG), every page states its context
            assert page.locator(".chart:not(:has(svg.main-svg))").count() == 0, each.slug
            context = page.inner_text(".context")
            for words in ("Data as of 2026-11-15", "Currency USD", "Attribution model", "Published"):
                assert words in context, (each.slug, context)
        assert problems == []

        open_page(page, (folder / "index.html").as_uri())
        _assert_kpis(_kpis_shown(page), run, None, default_model)
        page.select_option("select[data-filter=month]", "2026-10-01")
        page.select_option("select[data-filter=model]", "linear")
        assert "month=2026-10-01" in page.url and "model=linear" in page.url
        _assert_kpis(_kpis_shown(page), run, "2026-10-01", "linear")
        assert page.inner_text("#meta-model") == "linear"
        # the filters follow the reader to the next page
        page.click("nav a[data-page='pacing.html']")
        page.wait_for_selector("body[data-rendered=true]")
        assert page.input_value("select[data-filter=month]") == "2026-10-01"
        shown = page.locator("#tile-pacing_table tbody tr").count()
        expected, = _serving(run, "select count(*) from marts.budget_pacing where period_month = date '2026-10-01'")[0]
        assert shown == expected > 0
        assert problems == []


def test_pacing_reads_the_plan_and_its_revision(run: Workspace) -> None:
    """The sample plan puts lines over, under and on pace; the mid-month revision (a file whose name
    sorts after the plan's) is the plan in force."""
    statuses = {s for s, in _serving(run, "select distinct pacing_status from marts.budget_pacing")}
    assert {"over", "under", "on_pace", "not_started"} <= statuses
    revision = sorted((SAMPLE_LANDING / "budgets").glob("*.csv"))[-1]
    line, = list(csv.DictReader(revision.open()))
    planned, = _serving(run, "select planned_spend from marts.budget_pacing where period_month = cast(? as date) "
                             "and channel = ? and campaign = '(all)'", [line["period"] + "-01", line["channel"]])[0]
    assert float(planned) == float(line["planned_spend"])


HOSTILE = '</script><img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'


def test_values_never_become_markup_or_script(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.t as select ? as channel, 12.5 as spend, date '2026-01-01' as month", [HOSTILE])
    spec = DashboardSpec.model_validate({
        "meta_sql": "select date '2026-01-31' as as_of_date, 'USD' as currency, ? as default_model".replace(
            "?", "'" + HOSTILE.replace("'", "''") + "'"),
        "pages": [{"slug": "index", "title": HOSTILE, "tiles": [
            {"id": "cards", "title": HOSTILE, "kind": "kpis", "sql": "select * from marts.t",
             "kpis": [["spend", HOSTILE, "currency"]]},
            {"id": "rows", "title": "rows", "kind": "table", "sql": "select * from marts.t",
             "filters": {"channel": {"column": "channel"}}, "columns": [["channel", "Channel", "text"]]},
        ]}],
    })
    build = build_dashboard(con, tmp_path / "dashboard", spec)
    with browser_page() as (page, problems):
        page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
        open_page(page, build.pages["index"].as_uri())
        assert page.evaluate("window.__pwned") is None
        assert page.inner_text("#tile-rows tbody td") == HOSTILE
        assert page.inner_text("#tile-cards h2") == HOSTILE
        assert page.locator("img").count() == 0
        assert [o for o in page.eval_on_selector_all("select[data-filter=channel] option", "os => os.map(o => o.value)")
                if o] == [HOSTILE]
        assert problems == []


def test_a_wrong_page_spec_names_the_page_tile_and_key(tmp_path: Path) -> None:
    pages = tmp_path / "pages.yml"
    pages.write_text("meta_sql: select 1\npages:\n  - slug: index\n    title: Overview\n    tiles:\n"
                     "      - {id: headline, title: KPIs, kind: pie, sql: select 1}\n")
    with pytest.raises(SpecError) as raised:
        load_spec(pages)
    assert str(pages) in str(raised.value) and "pages[index].tiles[headline].kind" in str(raised.value)


def test_a_tile_query_missing_a_column_names_the_page_and_tile(tmp_path: Path) -> None:
    spec = DashboardSpec.model_validate({"meta_sql": "select 1 as as_of_date", "pages": [{
        "slug": "index", "title": "Overview", "tiles": [
            {"id": "trend", "title": "Trend", "kind": "line", "sql": "select 1 as month", "x": "month",
             "y": ["spend"]}]}]})
    with pytest.raises(TileError, match=r"page 'index', tile 'trend' .*no column spend"):
        build_dashboard(duckdb.connect(), tmp_path / "dashboard", spec)
    assert not (tmp_path / "dashboard").exists(), "a failed build leaves no half dashboard"


def test_cdp_dashboard_needs_a_good_run_first(workspace: Workspace, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["dashboard"]) == 2
    assert "run `cdp run` first" in capsys.readouterr().err


def test_cdp_dashboard_rebuilds_from_the_serving_copy(run: Workspace, capsys: pytest.CaptureFixture) -> None:
    index = run.settings.dashboard_dir / "index.html"
    index.unlink()
    assert cli_main(["dashboard"]) == 0
    assert index.exists() and index.as_uri() in capsys.readouterr().out
