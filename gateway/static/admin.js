/* The organiser's page, GET /admin/webinars/{webinar_id}: the schedule, the live count
   and the watch-time report of one webinar. The page is a static shell; every figure
   comes from the admin JSON API, called with the admin token the organiser enters (kept
   in sessionStorage: this tab only). No dependencies, no build step.
   While the webinar can still gain watch time, the charts follow the live count: the
   concurrency series with every live count, the report as often as its size allows. */
(function () {
  "use strict";

  const TOKEN_KEY = "watchtime.adminToken";
  const LIVE_REFRESH_MS = 5000;
  // A live report reloads when its last load is this many times its loading time old
  // (at least one live refresh): a small webinar every 5 s, 100,000 people less often.
  const REPORT_REFRESH_FACTOR = 20;
  const DEVICES = ["desktop", "mobile", "tablet", "bot", "other"];
  const BROWSERS_SHOWN = 6;
  const PAGE_SIZE = 1000; // people per report request
  const ROWS_STEP = 200; // table rows added to the page at a time
  const BUCKETS = 10; // histogram: 0–10 %, …, 90–100 % of the programme watched
  const DATE_FIELDS = [
    "webinar_start_time",
    "webinar_scheduled_end_time",
    "webinar_actual_end_time",
  ];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const webinarId = decodeURIComponent(location.pathname.split("/").pop());
  const $ = (id) => document.getElementById(id);
  const form = $("schedule");

  // ---- the admin API ------------------------------------------------------------------

  class AuthError extends Error {}

  class ApiError extends Error {
    constructor(status, body) {
      super(body.detail || `the server answered HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(path, init = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { ...init.headers, Authorization: `Bearer ${token}` };
    const response = await fetch(`/api/webinars/${webinarId}${path}`, {
      ...init,
      headers,
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(`HTTP ${response.status}`);
    }
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
    return response;
  }

  const getJson = async (path) => (await api(path)).json();

  async function sendJson(method, path, body) {
    const init = { method, headers: { "Content-Type": "application/json" } };
    if (body !== undefined) init.body = JSON.stringify(body);
    return (await api(path, init)).json();
  }

  // ---- formatting -----------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");
  const count = (n) => n.toLocaleString();
  const plural = (n, one, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;
  const percent = (share) => `${(share * 100).toFixed(1)}%`;

  /** "YYYY-MM-DDTHH:MM:SS" in the browser's time zone: the format of datetime-local. */
  function localInput(date) {
    const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  const localText = (iso) => localInput(new Date(iso)).replace("T", " ");
  const utcText = (iso) => `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;

  /** "Asia/Kolkata (UTC+05:30)": the zone the page shows and reads times in. */
  function zoneLabel() {
    const minutes = -new Date().getTimezoneOffset();
    const sign = minutes < 0 ? "-" : "+";
    const offset = `${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
    return `${Intl.DateTimeFormat().resolvedOptions().timeZone} (UTC${sign}${offset})`;
  }

  /** Whole seconds as m:ss, or h:mm:ss from an hour on. */
  function duration(seconds) {
    const total = Math.round(seconds);
    const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }

  // ---- DOM building -------------------------------------------------------------------

  function build(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  const el = (tag, attrs = {}, ...children) => build(document.createElement(tag), attrs, children);
  const svg = (tag, attrs = {}, ...children) =>
    build(document.createElementNS(SVG_NS, tag), attrs, children);

  function say(text, kind = "info") {
    const message = $("message");
    message.textContent = text;
    message.className = kind;
    message.hidden = !text;
  }

  // ---- the schedule form --------------------------------------------------------------

  function fillSchedule(webinar) {
    form.elements.title.value = webinar.title;
    form.elements.post_window_minutes.value = webinar.post_window_minutes;
    for (const name of DATE_FIELDS) {
      const input = form.elements[name];
      input.value = webinar[name] ? localInput(new Date(webinar[name])) : "";
      // The stored instant goes back as it was (milliseconds included) unless edited.
      input.dataset.iso = webinar[name] || "";
      input.dataset.shown = input.value;
      showUtc(input);
    }
    $("end-now").disabled = Boolean(webinar.webinar_actual_end_time);
    $("title").textContent = webinar.title || "Untitled webinar";
    document.title = `${webinar.title || "Webinar"}: watch time`;
  }

  /** The instant an input holds, as UTC ISO 8601, or null when it is empty. */
  function inputInstant(input) {
    if (input.value === "") return null;
    if (input.value === input.dataset.shown) return input.dataset.iso;
    return new Date(input.value).toISOString(); // a datetime-local value is local time
  }

  function showUtc(input) {
    const instant = inputInstant(input);
    form.querySelector(`.utc[data-for="${input.name}"]`).textContent = instant
      ? `= ${utcText(instant)}`
      : "";
  }

  function readSchedule() {
    const schedule = {
      title: form.elements.title.value.trim(),
      post_window_minutes: Number(form.elements.post_window_minutes.value),
    };
    for (const name of DATE_FIELDS) schedule[name] = inputInstant(form.elements[name]);
    return schedule;
  }

  async function saveSchedule(event) {
    event.preventDefault();
    const webinar = await sendJson("PUT", "", readSchedule());
    fillSchedule(webinar);
    say(`Schedule saved at ${localText(webinar.updated_at)}.`);
    await loadReport();
  }

  async function endNow() {
    const question = "End the webinar now? The programme ends at this moment for every " +
      "report; you can still correct the actual end in the schedule.";
    if (!confirm(question)) return;
    const webinar = await sendJson("POST", "/end");
    fillSchedule(webinar);
    say(`Webinar ended at ${localText(webinar.webinar_actual_end_time)}.`);
    await loadReport();
  }

  /** Fills the form; false for a webinar that does not exist yet (saving creates it). */
  async function loadWebinar() {
    try {
      fillSchedule(await getJson(""));
      return true;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      $("end-now").disabled = true;
      say("There is no webinar with this id yet: fill in its schedule and save to create it.");
      return false;
    }
  }

  // ---- the live count -----------------------------------------------------------------

  let liveTimer = 0;

  async function refreshLive() {
    clearTimeout(liveTimer);
    const live = $("live");
    if (!document.hidden) {
      try {
        const counts = await getJson("/live");
        live.textContent = `${count(counts.viewers)} watching now · ` +
          plural(counts.active_sessions, "open session");
        await followLive(counts);
      } catch (error) {
        if (error instanceof AuthError) return fail(error);
        live.textContent = "live count unavailable";
      }
    }
    liveTimer = setTimeout(refreshLive, LIVE_REFRESH_MS);
  }

  /** With each live count: the concurrency chart ends at it, and a live report that is
   *  due reloads (one load at a time). */
  async function followLive(counts) {
    charts.now = { at: new Date().toISOString(), ...counts };
    if ($("report").hidden) return;
    charts.points = (await getJson("/stats/concurrency")).points;
    drawConcurrency();
    if (reportDue()) await loadReport();
  }

  /** Whether the webinar could still gain watch time when the report was taken (without
   *  an end yet, the report's windows end at its moment). */
  function reportLive() {
    const { generatedAt, collectTo } = reportState;
    return Boolean(generatedAt) && Date.parse(generatedAt) <= Date.parse(collectTo);
  }

  function reportDue() {
    const { loadedAt, loadMs } = reportState;
    return !loading && reportLive() && Date.now() - loadedAt >= REPORT_REFRESH_FACTOR * loadMs;
  }

  // ---- the report ---------------------------------------------------------------------

  let loads = 0; // the latest load: an older one that answers later is dropped
  let loading = false;
  const reportState = { generatedAt: null, collectTo: null, loadedAt: 0, loadMs: 0 };

  async function loadReport() {
    const load = ++loads;
    const started = Date.now();
    loading = true;
    $("progress").textContent = "Loading…";
    try {
      const [{ report, people }, concurrency] = await Promise.all([
        everyone(load),
        getJson("/stats/concurrency"),
      ]);
      if (load !== loads) return;
      Object.assign(reportState, {
        generatedAt: report.generated_at,
        collectTo: report.collect_to,
        loadedAt: Date.now(),
        loadMs: Math.max(LIVE_REFRESH_MS / REPORT_REFRESH_FACTOR, Date.now() - started),
      });
      showReport(report, people, concurrency.points);
    } finally {
      if (load === loads) loading = false;
    }
  }

  function showReport(report, people, points) {
    $("report").hidden = false; // first: the charts are drawn to the size they are shown at
    renderSummary(report);
    table.people = people;
    table.duration = report.content_duration_seconds;
    sortRows();
    Object.assign(charts, {
      people,
      contentSeconds: report.content_duration_seconds,
      points,
      devices: report.summary.devices,
      browsers: report.summary.browsers,
    });
    drawCharts();
    $("progress").textContent = `${plural(people.length, "person", "people")}, ` +
      `report of ${localText(report.generated_at)}`;
    $("report").dataset.generatedAt = report.generated_at;
  }

  /** Every page of the report: sorting and the histogram need everybody. The pages are
   *  of one moment (the first page's), each person on exactly one of them. */
  async function everyone(load) {
    const people = [];
    let report = null;
    let cursor = null;
    do {
      const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await getJson(`/stats/watch-time?limit=${PAGE_SIZE}${after}`);
      report ??= page;
      people.push(...page.viewers);
      cursor = page.next_cursor;
      $("progress").textContent =
        `Loading… ${count(people.length)} of ${plural(report.summary.viewers, "person", "people")}`;
    } while (cursor && load === loads);
    return { report, people };
  }

  function renderSummary(report) {
    const s = report.summary;
    const figures = [
      ["People", count(s.viewers)],
      ["Sessions", count(s.sessions)],
      ["Average watched", duration(s.avg_watched_seconds)],
      ["Median watched", duration(s.median_watched_seconds)],
      ["90th percentile watched", duration(s.p90_watched_seconds)],
      ["Average present", duration(s.avg_present_seconds)],
      ["Average active", duration(s.avg_active_seconds)],
      ["Average share watched", percent(s.avg_watched_share)],
      ["Programme", duration(report.content_duration_seconds)],
    ];
    const items = figures.map(([label, value]) =>
      el("div", {}, el("dt", {}, label), el("dd", {}, value)));
    $("summary").replaceChildren(...items);
    $("window").textContent =
      `Programme from ${localText(report.content_from)} to ${localText(report.content_to)}; ` +
      `sessions count until ${localText(report.collect_to)} (${zoneLabel()}). Reports ` +
      "read the database, a few seconds behind the live count.";
  }

  // ---- the table ----------------------------------------------------------------------

  const timeOf = (iso) => Date.parse(iso);
  // Sort keys; a first click sorts numbers largest first, names and times ascending.
  const COLUMNS = {
    viewer: { key: (p) => p.viewer, ascending: true },
    sessions: { key: (p) => p.sessions },
    watched: { key: (p) => p.watched_seconds },
    active: { key: (p) => p.active_seconds },
    present: { key: (p) => p.present_seconds },
    share: { key: (p) => p.watched_seconds }, // every share has the same denominator
    first: { key: (p) => timeOf(p.first_entered_at), ascending: true },
    last: { key: (p) => timeOf(p.last_seen_at), ascending: true },
    device: { key: (p) => `${p.device} ${p.browser}`, ascending: true },
  };
  // The server's order: most watched first, then by viewer.
  const table = { people: [], duration: 0, column: "watched", descending: true, shown: ROWS_STEP };

  const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

  function sortRows() {
    const { key } = COLUMNS[table.column];
    const sign = table.descending ? -1 : 1;
    table.people.sort((a, b) => sign * compare(key(a), key(b)) || compare(a.viewer, b.viewer));
    renderRows();
  }

  function sortBy(column) {
    table.descending = column === table.column ? !table.descending : !COLUMNS[column].ascending;
    table.column = column;
    table.shown = ROWS_STEP;
    sortRows();
  }

  function cell(label, text, attrs = {}) {
    return el("td", { "data-label": label, ...attrs }, text);
  }

  /** A duration cell: whole seconds shown, the exact value in its tooltip. */
  function durationCell(label, value) {
    return cell(label, duration(value), { class: "num", title: `${value} s` });
  }

  function personRow(p) {
    const share = table.duration ? p.watched_seconds / table.duration : 0;
    return el(
      "tr",
      { "data-viewer": p.viewer },
      cell("Viewer", p.viewer, { class: "viewer" }),
      cell("Sessions", count(p.sessions), { class: "num" }),
      durationCell("Watched", p.watched_seconds),
      durationCell("Active", p.active_seconds),
      durationCell("Present", p.present_seconds),
      cell("Share", percent(share), { class: "num" }),
      cell("First entered", localText(p.first_entered_at)),
      cell("Last seen", localText(p.last_seen_at)),
      cell("Device", `${p.device} · ${p.browser}`),
    );
  }

  function renderRows() {
    const rows = table.people.slice(0, table.shown).map(personRow);
    if (!rows.length) {
      rows.push(el("tr", {}, el("td", { colspan: 9, class: "empty" }, "Nobody yet.")));
    }
    $("people").tBodies[0].replaceChildren(...rows);
    const hidden = table.people.length - table.shown;
    const more = $("more-rows");
    more.hidden = hidden <= 0;
    more.textContent =
      `Show ${count(Math.min(hidden, ROWS_STEP))} more (${count(hidden)} not shown)`;
    for (const button of document.querySelectorAll("#people th button")) {
      const th = button.parentElement;
      if (button.dataset.sort !== table.column) th.removeAttribute("aria-sort");
      else th.setAttribute("aria-sort", table.descending ? "descending" : "ascending");
    }
  }

  // ---- the charts ---------------------------------------------------------------------

  // Both charts are drawn in the pixels they take on the screen, so their text keeps its
  // size on a phone; they are drawn again when that size changes.
  const CHART_HEIGHT = 240;
  const MARGIN = { left: 44, right: 24, top: 22, bottom: 40 };
  const charts = {
    people: [], contentSeconds: 0, points: [], now: null, devices: {}, browsers: {},
  };

  /** Sizes a chart to its width on the screen and empties it; returns its plot area. */
  function frame(chart) {
    const width = Math.max(240, Math.round(chart.getBoundingClientRect().width));
    chart.setAttribute("viewBox", `0 0 ${width} ${CHART_HEIGHT}`);
    chart.replaceChildren();
    const bottom = CHART_HEIGHT - MARGIN.bottom;
    return { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom, width };
  }

  /** A round step for about four grid lines up to `max`: 1, 2, 5, 10, 20, 50 … */
  function gridStep(max) {
    const rough = max / 4;
    if (rough <= 1) return 1;
    const power = 10 ** Math.floor(Math.log10(rough));
    return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
  }

  /** Draws the y grid of a chart from 0 to at least `max`; returns value → y. */
  function yAxis(chart, area, max) {
    const step = gridStep(max);
    const top = Math.max(step, Math.ceil(max / step) * step);
    const y = (value) => area.bottom - (value / top) * (area.bottom - area.top);
    for (let value = 0; value <= top; value += step) {
      chart.append(
        svg("line", { class: "grid", x1: area.left, x2: area.right, y1: y(value), y2: y(value) }),
        svg("text", { class: "tick-y", x: area.left - 8, y: y(value) + 4 }, count(value)),
      );
    }
    return y;
  }

  function xLabel(chart, area, x, text) {
    chart.append(svg("text", { class: "tick-x", x, y: area.bottom + 22 }, text));
  }

  function note(chart, area, text) {
    chart.append(svg("text", { class: "note", x: area.width / 2, y: CHART_HEIGHT / 2 }, text));
  }

  const maxOf = (values) => values.reduce((a, b) => Math.max(a, b), 0);

  /** How many people watched 0–10 %, 10–20 % … of the programme (100 % in the last). */
  function shareCounts(people, contentSeconds) {
    const counts = new Array(BUCKETS).fill(0);
    for (const p of people) {
      const bucket = Math.floor((p.watched_seconds * BUCKETS) / contentSeconds);
      counts[Math.min(BUCKETS - 1, bucket)] += 1;
    }
    return counts;
  }

  function drawHistogram() {
    const chart = $("histogram");
    const area = frame(chart);
    if (!charts.contentSeconds) return note(chart, area, "The programme has not started yet.");
    const counts = shareCounts(charts.people, charts.contentSeconds);
    const y = yAxis(chart, area, maxOf(counts));
    const slot = (area.right - area.left) / BUCKETS;
    const gap = Math.min(4, slot / 5);
    counts.forEach((n, i) => {
      const [from, to] = [(i * 100) / BUCKETS, ((i + 1) * 100) / BUCKETS];
      const x = area.left + i * slot;
      const bar = {
        class: "bar", x: x + gap / 2, y: y(n), width: slot - gap, height: area.bottom - y(n),
      };
      const data = { "data-bucket": i, "data-from": from, "data-to": to, "data-count": n };
      const title = `${from}–${to}% watched: ${plural(n, "person", "people")}`;
      chart.append(svg("rect", { ...bar, ...data }, svg("title", {}, title)));
      if (n) chart.append(svg("text", { class: "count", x: x + slot / 2, y: y(n) - 6 }, count(n)));
    });
    for (let i = 0; i <= BUCKETS; i += 2) {
      xLabel(chart, area, area.left + i * slot, `${(i * 100) / BUCKETS}%`);
    }
  }

  /** The snapshots, and while the webinar is live the live count as the last point. */
  function concurrencyPoints() {
    const { points, now } = charts;
    const last = points[points.length - 1];
    const newer = now && reportLive() && (!last || timeOf(now.at) > timeOf(last.at));
    return newer ? [...points, { ...now, live: true }] : points;
  }

  function drawConcurrency() {
    const chart = $("concurrency");
    const area = frame(chart);
    const points = concurrencyPoints();
    if (!points.length) {
      return note(chart, area, "No snapshots yet: one a minute while people watch.");
    }
    const times = points.map((p) => timeOf(p.at));
    const [first, last] = [times[0], times[times.length - 1]];
    const width = area.right - area.left;
    const x = (t) =>
      area.left + (last === first ? width / 2 : ((t - first) / (last - first)) * width);
    const y = yAxis(chart, area, maxOf(points.map((p) => Math.max(p.viewers, p.active_sessions))));
    const line = (series) => svg("polyline", {
      class: `line ${series === "viewers" ? "viewers" : "sessions"}`,
      points: points.map((p, i) => `${x(times[i])},${y(p[series])}`).join(" "),
    });
    chart.append(line("active_sessions"), line("viewers"));
    points.forEach((p, i) => {
      const title = `${p.live ? "now" : localText(p.at)}: ${plural(p.viewers, "viewer")}, ` +
        plural(p.active_sessions, "open session");
      const data = {
        "data-at": p.at, "data-viewers": p.viewers, "data-active-sessions": p.active_sessions,
      };
      const kind = p.live ? "point live" : "point";
      const point = { class: kind, cx: x(times[i]), cy: y(p.viewers), r: 3.5, ...data };
      chart.append(svg("circle", point, svg("title", {}, title)));
    });
    const labelled = first === last ? [first] : [first, (first + last) / 2, last];
    for (const t of labelled) xLabel(chart, area, x(t), localText(new Date(t)).slice(11, 16));
  }

  /** People by the device class of their first session, and the browsers below. */
  function drawDevices() {
    const chart = $("devices");
    const area = frame(chart);
    const counts = DEVICES.map((device) => charts.devices[device] || 0);
    const y = yAxis(chart, area, maxOf(counts));
    const slot = (area.right - area.left) / DEVICES.length;
    const gap = Math.min(12, slot / 4);
    DEVICES.forEach((device, i) => {
      const n = counts[i];
      const x = area.left + i * slot;
      const bar = {
        class: "bar", x: x + gap / 2, y: y(n), width: slot - gap, height: area.bottom - y(n),
      };
      const title = `${device}: ${plural(n, "person", "people")}`;
      chart.append(svg("rect", { ...bar, "data-device": device, "data-count": n },
        svg("title", {}, title)));
      if (n) chart.append(svg("text", { class: "count", x: x + slot / 2, y: y(n) - 6 }, count(n)));
      xLabel(chart, area, x + slot / 2, device);
    });
    const browsers = Object.entries(charts.browsers);
    const shown = browsers.slice(0, BROWSERS_SHOWN).map(([name, n]) => `${name} ${count(n)}`);
    const others = browsers.slice(BROWSERS_SHOWN).reduce((sum, [, n]) => sum + n, 0);
    if (others) shown.push(`others ${count(others)}`);
    $("browsers").textContent = shown.length ? `Browsers: ${shown.join(" · ")}` : "";
  }

  function drawCharts() {
    drawHistogram();
    drawConcurrency();
    drawDevices();
  }

  // ---- the CSV download ---------------------------------------------------------------

  /** A link cannot carry the Authorization header: fetch the file and save it from memory. */
  async function downloadCsv() {
    const response = await api("/stats/watch-time?format=csv");
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] || `watch-time-${webinarId}.csv`;
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // ---- signing in, and the page's life ------------------------------------------------

  function showSignIn(text) {
    clearTimeout(liveTimer);
    for (const id of ["dashboard", "live", "sign-out"]) $(id).hidden = true;
    $("sign-in").hidden = false;
    say(text, "error");
    $("sign-in").elements.token.focus();
  }

  function fail(error) {
    if (error instanceof AuthError) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(`The admin token was refused (${error.message}): enter it again.`);
    } else if (error instanceof ApiError) {
      say(error.message, "error");
    } else {
      say(`The server could not be reached: ${error.message}`, "error");
    }
  }

  const guarded = (action) => (...args) => action(...args).catch(fail);

  async function start() {
    $("sign-in").hidden = true;
    for (const id of ["dashboard", "live", "sign-out"]) $(id).hidden = false;
    say("");
    // The webinar first: the admin API judges the token (403), and only then the live
    // count, which would take a refused admin token for a viewer's (401).
    const known = await loadWebinar();
    refreshLive();
    if (known) await loadReport();
  }

  function signIn(event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, event.target.elements.token.value.trim());
    event.target.reset();
    guarded(start)();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  }

  function init() {
    $("webinar-id").textContent = `Webinar ${webinarId}`;
    $("timezone").textContent =
      `Times are in this browser's time zone, ${zoneLabel()}; the server keeps them in UTC.`;
    $("sign-in").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    form.addEventListener("submit", guarded(saveSchedule));
    form.addEventListener("input", (event) => {
      if (DATE_FIELDS.includes(event.target.name)) showUtc(event.target);
    });
    $("end-now").addEventListener("click", guarded(endNow));
    $("refresh").addEventListener("click", guarded(loadReport));
    $("csv").addEventListener("click", guarded(downloadCsv));
    $("more-rows").addEventListener("click", () => {
      table.shown += ROWS_STEP;
      renderRows();
    });
    for (const button of document.querySelectorAll("#people th button")) {
      button.addEventListener("click", () => sortBy(button.dataset.sort));
    }
    const resized = new ResizeObserver(() => {
      if (!$("report").hidden) drawCharts();
    });
    for (const id of ["histogram", "concurrency", "devices"]) resized.observe($(id));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && !$("live").hidden) refreshLive();
    });
    if (sessionStorage.getItem(TOKEN_KEY)) guarded(start)();
    else showSignIn("");
  }

  init();
})();
