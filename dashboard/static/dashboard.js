// Renders one dashboard page from the JSON embedded in it (id "cdp-page"): the filter bar, KPI
// cards, Plotly charts and tables. Nothing is fetched: the rows are in the page, Plotly beside it.
// Filters (month, channel, model) live in the URL, so they follow the reader from page to page.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("cdp-page").textContent);
  const meta = page.meta;
  const FILTERS = [
    ["month", "Period", "All months"],
    ["channel", "Channel", "All channels"],
    ["model", "Attribution model", null],
  ];

  const params = new URLSearchParams(window.location.search);
  const state = {
    month: params.get("month") || "",
    channel: params.get("channel") || "",
    model: params.get("model") || meta.default_model || "",
  };

  // ---- formatting -------------------------------------------------------------------------
  const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  let currencyFormat;
  try {
    currencyFormat = new Intl.NumberFormat("en-US", {
      style: "currency", currency: meta.currency || "USD", maximumFractionDigits: 0,
    });
  } catch (err) {
    currencyFormat = numberFormat;
  }

  function format(value, kind) {
    if (value === null || value === undefined || value === "") return "–";
    switch (kind) {
      case "currency": return currencyFormat.format(value);
      case "number": return numberFormat.format(value);
      case "percent": return (value * 100).toFixed(1) + "%";
      case "ratio": return Number(value).toFixed(2);
      case "days": return Number(value).toFixed(1) + " d";
      case "months": return Number(value).toFixed(1) + " mo";
      case "month": return String(value).slice(0, 7);
      case "timestamp": return String(value).replace("T", " ").slice(0, 16);
      default: return String(value);
    }
  }

  const axisFormat = { currency: ",.0f", number: ",.0f", percent: ".0%", ratio: ".2f", days: ".1f", months: ".1f" };

  // ---- filters ----------------------------------------------------------------------------
  function currentMonth() {
    return meta.as_of_date ? meta.as_of_date.slice(0, 7) + "-01" : "";
  }

  function filterValue(name, spec) {
    if (state[name]) return state[name];
    if (name === "month" && spec.default === "current") return currentMonth();
    return "";
  }

  function rowsFor(tile) {
    const filters = tile.filters || {};
    return tile.rows.filter(function (row) {
      return Object.keys(filters).every(function (name) {
        const spec = filters[name];
        const cell = row[tile.columns.indexOf(spec.column)];
        const wanted = filterValue(name, spec);
        const isAll = spec.all === undefined ? cell === null : cell === spec.all;
        if (spec.rollup) return wanted ? cell === wanted : isAll;
        return wanted ? cell === wanted : true;
      });
    });
  }

  function filterOptions(name) {
    const values = new Set();
    page.tiles.forEach(function (tile) {
      const spec = (tile.filters || {})[name];
      if (!spec) return;
      const i = tile.columns.indexOf(spec.column);
      tile.rows.forEach(function (row) {
        if (row[i] !== null && row[i] !== spec.all) values.add(row[i]);
      });
    });
    return Array.from(values).sort();
  }

  function buildFilterBar() {
    const bar = document.getElementById("filters");
    FILTERS.forEach(function ([name, label, allLabel]) {
      const used = page.tiles.some(function (tile) { return (tile.filters || {})[name]; });
      if (!used) return;
      const wrapper = document.createElement("label");
      wrapper.textContent = label + " ";
      const select = document.createElement("select");
      select.name = name;
      select.dataset.filter = name;
      const defaultsToCurrent = name === "month" && page.tiles.some(function (tile) {
        return ((tile.filters || {}).month || {}).default === "current";
      });
      if (defaultsToCurrent) select.add(new Option("Current month (" + format(currentMonth(), "month") + ")", ""));
      else if (allLabel !== null) select.add(new Option(allLabel, ""));
      filterOptions(name).forEach(function (value) {
        select.add(new Option(name === "month" ? format(value, "month") : value, value));
      });
      select.value = state[name];
      select.addEventListener("change", function () {
        state[name] = select.value;
        const query = new URLSearchParams();
        Object.keys(state).forEach(function (key) { if (state[key]) query.set(key, state[key]); });
        window.history.replaceState(null, "", "?" + query.toString());
        renderAll();
      });
      wrapper.appendChild(select);
      bar.appendChild(wrapper);
    });
  }

  function carryFiltersInLinks() {
    document.querySelectorAll("nav a[data-page]").forEach(function (link) {
      const query = new URLSearchParams();
      Object.keys(state).forEach(function (key) { if (state[key]) query.set(key, state[key]); });
      link.href = link.dataset.page + (query.toString() ? "?" + query.toString() : "");
    });
    const shown = document.getElementById("meta-model");
    if (shown) shown.textContent = state.model || meta.default_model || "–";
    const period = document.getElementById("meta-period");
    const current = page.tiles.some(function (tile) { return ((tile.filters || {}).month || {}).default === "current"; });
    if (period) {
      period.textContent = state.month ? format(state.month, "month")
        : current ? format(currentMonth(), "month") : "all months";
    }
  }

  // ---- tiles ------------------------------------------------------------------------------
  function column(tile, rows, name) {
    const i = tile.columns.indexOf(name);
    return rows.map(function (row) { return row[i]; });
  }

  // months arrive as first days (2026-05-01): shown as 2026-05
  function axisLabel(value) {
    const text = String(value);
    return /^\d{4}-\d{2}-01$/.test(text) ? text.slice(0, 7) : text;
  }

  function distinct(values) {
    return Array.from(new Set(values));
  }

  function renderKpis(tile, rows, body) {
    const row = rows[0] || null;
    body.querySelectorAll("[data-kpi]").forEach(function (card) {
      const name = card.dataset.kpi;
      const value = row ? row[tile.columns.indexOf(name)] : null;
      card.dataset.value = value === null || value === undefined ? "" : String(value);
      card.querySelector(".value").textContent = format(value, card.dataset.format);
    });
  }

  function layout(tile, extra) {
    return Object.assign({
      margin: { l: 70, r: 20, t: 30, b: 40 },
      height: 360,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      font: { family: "system-ui, sans-serif", size: 12 },
      yaxis: { tickformat: axisFormat[tile.format] || "", automargin: true },
      xaxis: { automargin: true, type: "category" },
    }, extra || {});
  }

  function renderChart(tile, rows, body) {
    const target = body.querySelector(".chart");
    let traces = [];
    const x = column(tile, rows, tile.x).map(tile.kind === "line" ? String : axisLabel);
    const kind = tile.kind === "line" ? "scatter" : "bar";
    const mode = tile.kind === "line" ? "lines+markers" : undefined;
    if (tile.series) {
      const series = column(tile, rows, tile.series);
      const y = column(tile, rows, tile.y[0]);
      distinct(series).forEach(function (name) {
        const xs = [], ys = [];
        series.forEach(function (s, i) { if (s === name) { xs.push(x[i]); ys.push(y[i]); } });
        traces.push({ type: kind, mode: mode, name: String(name), x: xs, y: ys });
      });
    } else {
      traces = tile.y.map(function (name, i) {
        return { type: kind, mode: mode, name: tile.labels[i], x: x, y: column(tile, rows, name) };
      });
    }
    const extra = { barmode: tile.stacked ? "stack" : "group" };
    if (tile.kind === "line") extra.xaxis = { automargin: true };
    window.Plotly.react(target, traces, layout(tile, extra), { displayModeBar: false, responsive: true });
  }

  function renderHeatmap(tile, rows, body) {
    const target = body.querySelector(".chart");
    const yName = tile.y[0];
    const xs = distinct(column(tile, rows, tile.x));
    const ys = distinct(column(tile, rows, yName)).sort().reverse();
    const xi = tile.columns.indexOf(tile.x), yi = tile.columns.indexOf(yName), zi = tile.columns.indexOf(tile.z);
    const z = ys.map(function () { return xs.map(function () { return null; }); });
    const text = ys.map(function () { return xs.map(function () { return ""; }); });
    rows.forEach(function (row) {
      const r = ys.indexOf(row[yi]), c = xs.indexOf(row[xi]);
      z[r][c] = row[zi];
      text[r][c] = format(row[zi], tile.format);
    });
    window.Plotly.react(target, [{
      type: "heatmap", x: xs.map(axisLabel), y: ys.map(String), z: z, text: text,
      texttemplate: "%{text}", hovertemplate: "%{y} · %{x}: %{text}<extra></extra>",
      colorscale: "Blues", reversescale: true, showscale: false,
    }], layout(tile, {
      height: Math.max(260, 28 * ys.length + 120),
      yaxis: { type: "category", automargin: true },
      margin: { l: 110, r: 20, t: 10, b: 60 },
    }),
    { displayModeBar: false, responsive: true });
  }

  function renderTable(tile, rows, body) {
    const table = body.querySelector("table");
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    const status = tile.status ? tile.columns.indexOf(tile.status) : -1;
    rows.forEach(function (row) {
      const tr = document.createElement("tr");
      if (status >= 0 && row[status] !== null) tr.className = "status-" + String(row[status]).replace(/[^a-z_]/g, "");
      tile.table.forEach(function ([name, , kind]) {
        const td = document.createElement("td");
        td.textContent = format(row[tile.columns.indexOf(name)], kind);
        if (kind !== "text" && kind !== "month" && kind !== "timestamp") td.className = "num";
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    body.querySelector(".empty").hidden = rows.length > 0;
  }

  function renderAll() {
    carryFiltersInLinks();
    page.tiles.forEach(function (tile) {
      const body = document.getElementById("tile-" + tile.id);
      const rows = rowsFor(tile);
      if (tile.kind === "kpis") renderKpis(tile, rows, body);
      else if (tile.kind === "table") renderTable(tile, rows, body);
      else if (tile.kind === "heatmap") renderHeatmap(tile, rows, body);
      else renderChart(tile, rows, body);
    });
    document.body.dataset.rendered = "true";
  }

  buildFilterBar();
  renderAll();
})();
