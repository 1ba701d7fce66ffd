// The stats dashboard: a form over GET /api/v1/stats, a table, totals and a chart.
// Every value is written with textContent: sub-IDs and names are user-controlled text.
"use strict";

const DIMENSIONS = [
  "day", "hour", "affiliate", "offer", "link", "sub1", "sub2", "sub3", "sub4", "sub5",
  "source", "country", "device", "os", "browser",
];
const METRICS = [
  "clicks", "unique_clicks", "bot_clicks", "conversions", "pending_conversions",
  "rejected_conversions", "revenue", "payout", "profit", "cr", "epc",
];
const RESERVED = new Set(["from", "to", "tz", "group_by", "sort", "limit", "format"]);
const KEY_STORE = "tracker.stats.key";
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function option(select, value, label) {
  const node = el("option", label);
  node.value = value;
  select.append(node);
}

// A date in a time zone as YYYY-MM-DD, and a YYYY-MM-DD shifted by whole days.
function today(tz) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}
function addDays(day, days) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

function groupBy() {
  return [$("group1").value, $("group2").value].filter((g, i, all) => g && all.indexOf(g) === i);
}

function query(format) {
  const params = new URLSearchParams();
  params.set("from", $("from").value);
  params.set("to", $("to").value);
  params.set("tz", $("tz").value.trim() || "UTC");
  const groups = groupBy();
  if (groups.length) params.set("group_by", groups.join(","));
  if ($("sort").value) params.set("sort", $("sort").value);
  if ($("limit").value) params.set("limit", $("limit").value);
  for (const [name, value] of new URLSearchParams($("filters").value.trim())) {
    if (!RESERVED.has(name)) params.append(name, value);
  }
  if (format) params.set("format", format);
  return params;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function call(params) {
  const key = $("key").value.trim();
  if (!key) {
    showError("Enter an API key (admin, or an affiliate's own).");
    return null;
  }
  if ($("remember").checked) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
  let response;
  try {
    response = await fetch(`/api/v1/stats?${params}`, {
      headers: { Authorization: `Bearer ${key}` },
    });
  } catch (error) {
    showError(`The tracker did not answer: ${error}`);
    return null;
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch {
      // not JSON: keep the status line
    }
    showError(message);
    return null;
  }
  showError("");
  return response;
}

function columns(body, groups) {
  const sample = body.rows[0] || body.totals || {};
  const out = [];
  for (const g of groups) {
    out.push(g);
    if (`${g}_name` in sample) out.push(`${g}_name`);
  }
  out.push("currency");
  for (const m of METRICS) if (m in (body.totals || sample)) out.push(m);
  return out;
}

const HEADINGS = {
  unique_clicks: "unique", bot_clicks: "bots", pending_conversions: "pending",
  rejected_conversions: "rejected", cr: "CR %", epc: "EPC",
};

function cell(value) {
  return value === null || value === undefined ? "—" : value;
}

function renderTable(body, groups) {
  const table = $("rows");
  const cols = columns(body, groups);
  const head = el("tr");
  for (const c of cols) {
    const th = el("th", HEADINGS[c] || c.replace("_name", " name"));
    if (METRICS.includes(c)) th.className = "num";
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const rows = body.rows.map((row) => {
    const tr = el("tr");
    for (const c of cols) tr.append(el("td", cell(row[c]), METRICS.includes(c) ? "num" : ""));
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
  const totals = (body.totals_by_currency || []).map((total) => {
    const tr = el("tr");
    cols.forEach((c, i) => {
      const text = i === 0 ? "Total" : c === "currency" || METRICS.includes(c) ? total[c] : "";
      tr.append(el("td", cell(text), METRICS.includes(c) ? "num" : ""));
    });
    return tr;
  });
  table.tFoot.replaceChildren(...totals);
  table.hidden = false;
}

function renderSummary(body) {
  const box = $("summary");
  const totals = body.totals || {};
  const cards = [
    ["Clicks", totals.clicks],
    ["Conversions", totals.conversions],
    ["Pending", totals.pending_conversions],
    ["Revenue", totals.revenue],
    ["Payout", totals.payout],
    ["Profit", totals.profit],
    ["CR %", totals.cr],
    ["EPC", totals.epc],
  ].filter(([name, value]) => value !== undefined && (value !== null || name === "Clicks"));
  box.replaceChildren(
    ...cards.map(([name, value]) => {
      const card = el("div", null, "card");
      card.append(el("span", name, "label"), el("strong", cell(value)));
      return card;
    }),
  );
  if (totals.currency) box.append(el("p", `Money in ${totals.currency}.`, "note"));
  else if ((body.totals_by_currency || []).length > 1) {
    box.append(el("p", "Several currencies: money per currency is in the table's totals.", "note"));
  }
}

// Clicks per day or hour as bars; other groupings show the table only.
function renderChart(body, groups) {
  const chart = $("chart");
  chart.replaceChildren();
  if (groups.length !== 1 || !["day", "hour"].includes(groups[0]) || !body.rows.length) {
    // An <svg> has no `hidden` property (it is HTML's): the attribute itself must change.
    chart.toggleAttribute("hidden", true);
    return;
  }
  const series = new Map();
  for (const row of body.rows) {
    const key = row[groups[0]];
    series.set(key, (series.get(key) || 0) + row.clicks);
  }
  const points = [...series.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const width = 720;
  const height = 160;
  const step = width / points.length;
  const top = Math.max(1, ...points.map(([, clicks]) => clicks));
  chart.setAttribute("viewBox", `0 0 ${width} ${height + 16}`);
  points.forEach(([label, clicks], i) => {
    const bar = document.createElementNS(SVG, "rect");
    const h = (clicks / top) * height;
    // A few days must not turn into walls of colour: bars are at most 48 units wide.
    const barWidth = Math.min(step * 0.8, 48);
    bar.setAttribute("x", String(i * step + (step - barWidth) / 2));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("width", String(barWidth));
    bar.setAttribute("height", String(h));
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${label}: ${clicks} clicks`;
    bar.append(title);
    chart.append(bar);
  });
  const first = document.createElementNS(SVG, "text");
  first.setAttribute("x", "0");
  first.setAttribute("y", String(height + 14));
  first.textContent = String(points[0][0]);
  const last = document.createElementNS(SVG, "text");
  last.setAttribute("x", String(width));
  last.setAttribute("y", String(height + 14));
  last.setAttribute("text-anchor", "end");
  last.textContent = String(points[points.length - 1][0]);
  if (points.length > 1) chart.append(first, last);
  else {
    first.setAttribute("x", String(width / 2));
    first.setAttribute("text-anchor", "middle");
    chart.append(first);
  }
  chart.toggleAttribute("hidden", false);
}

async function show(event) {
  if (event) event.preventDefault();
  const params = query();
  const response = await call(params);
  if (!response) return;
  const body = await response.json();
  const groups = groupBy();
  // An affiliate's key gets no network money: it cannot sort by it either.
  for (const node of $("sort").options) {
    const metric = node.value.slice(1);
    node.disabled = Boolean(metric) && METRICS.includes(metric) && !(metric in (body.totals || {}));
  }
  renderSummary(body);
  renderChart(body, groups);
  renderTable(body, groups);
  // The view (never the key) goes into the address, so it can be bookmarked and shared.
  history.replaceState(null, "", `#${params}`);
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

async function downloadCsv() {
  const response = await call(query("csv"));
  if (!response) return;
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : "stats.csv";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function restore() {
  const saved = new URLSearchParams(location.hash.slice(1));
  const tz = saved.get("tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("tz").value = tz;
  $("to").value = saved.get("to") || today(tz);
  $("from").value = saved.get("from") || addDays($("to").value, -6);
  const groups = (saved.get("group_by") || "day").split(",");
  $("group1").value = groups[0] || "";
  $("group2").value = groups[1] || "";
  $("sort").value = saved.get("sort") || "";
  $("limit").value = saved.get("limit") || "";
  const filters = new URLSearchParams();
  for (const [name, value] of saved) if (!RESERVED.has(name)) filters.append(name, value);
  $("filters").value = String(filters);
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) {
    $("key").value = key;
    $("remember").checked = true;
  }
}

function setUp() {
  for (const id of ["group1", "group2"]) {
    option($(id), "", id === "group1" ? "(totals only)" : "(nothing)");
    for (const d of DIMENSIONS) option($(id), d, d);
  }
  option($("sort"), "", "by group");
  for (const m of METRICS) option($("sort"), `-${m}`, `${HEADINGS[m] || m}, highest first`);
  restore();
  $("report").addEventListener("submit", show);
  $("key-form").addEventListener("submit", show);
  $("csv").addEventListener("click", downloadCsv);
  if ($("key").value) show();
}

document.addEventListener("DOMContentLoaded", setUp);
