// vodkit's playback analytics dashboard: one video of mine (`GET /api/videos/{id}/analytics`) and,
// for an admin, every video (`GET /api/analytics`, with the processing funnel). Every figure and plot
// comes from those answers as they are; the list of my videos only names the choices.
// Plots are Chart.js (node_modules, installed by make setup).
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#0071e3", "#1a7f37", "#bf5700", "#8e44ad", "#c62828", "#00838f", "#6d4c41"];

// ---- who I am: the same user token as the web page ---------------------------------------------
const hash = new URLSearchParams(location.hash.slice(1));
let token = hash.get("token") || localStorage.getItem("vodkit.token") || "";
if (hash.get("token")) {
  localStorage.setItem("vodkit.token", token);
  history.replaceState(null, "", location.pathname + (hash.get("video") ? `#video=${hash.get("video")}` : ""));
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- formatting ------------------------------------------------------------------------------------
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function seconds(value, digits = 2) {
  return value === null || value === undefined ? "–" : `${value.toFixed(digits)} s`;
}

function percent(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(2)} %`;
}

function bitrate(bps) {
  return bps === null || bps === undefined ? "–" : `${(bps / 1e6).toFixed(2)} Mb/s`;
}

function daysBetween(from, to) {
  const days = [];
  for (let day = new Date(`${from}T00:00:00Z`); day <= new Date(`${to}T00:00:00Z`); day.setUTCDate(day.getUTCDate() + 1)) {
    days.push(day.toISOString().slice(0, 10));
  }
  return days;
}

// ---- one report: tiles, plots, tables -----------------------------------------------------------
const charts = new Map();  // canvas → Chart, destroyed before a canvas is drawn again

function renderReport(section, report) {
  section.querySelectorAll("canvas").forEach((canvas) => { charts.get(canvas)?.destroy(); charts.delete(canvas); });
  section.querySelector(".report-body")?.remove();
  const body = document.createElement("div");
  body.className = "report-body";
  body.append($("report-template").content.cloneNode(true));
  if (!report.funnel) body.querySelectorAll(".fleet-only").forEach((node) => node.remove());
  section.append(body);
  section.querySelector(".range").textContent = `${report.from} to ${report.to} (UTC)`;
  if (!$("from").value) $("from").value = report.from;  // the API's default range, shown to change
  if (!$("to").value) $("to").value = report.to;
  fillTiles(body, report.summary);
  fillQualities(body.querySelector("table.qualities tbody"), report.qualities);
  const plots = {
    views: viewsChart(report),
    startup: startupChart(report.startupHistogram),
    buffer: bufferChart(report.bufferByPosition),
    qualities: qualityChart(report.qualities),
    stalls: stallsChart(report),
  };
  if (report.funnel) {
    plots.funnel = funnelChart(report.funnel);
    fillVideos(body.querySelector("table.videos tbody"), report.videos);
  }
  for (const [name, config] of Object.entries(plots)) {
    const canvas = body.querySelector(`canvas[data-chart="${name}"]`);
    charts.set(canvas, new Chart(canvas, withDefaults(config)));
  }
  section.hidden = false;
}

function fillTiles(body, s) {
  const text = {
    views: String(s.views),
    uniqueViewers: String(s.uniqueViewers),
    watchTime: duration(s.watchSeconds),
    startup: `${seconds(s.startupP50)} / ${seconds(s.startupP95)}`,
    rebuffering: percent(s.rebufferingRatio),
    stalls: `${s.stallCount} (${duration(s.stallSeconds)})`,
    bufferHealth: seconds(s.avgBufferHealth, 1),
    errorsPerView: s.errorsPerView === null ? "–" : s.errorsPerView.toFixed(2),
  };
  for (const [name, value] of Object.entries(text)) body.querySelector(`[data-figure="${name}"]`).textContent = value;
}

function fillQualities(tbody, qualities) {
  tbody.replaceChildren(...qualities.map((q) => row([q.quality, String(q.plays), bitrate(q.avgBitrate), duration(q.watchSeconds)])));
  if (!qualities.length) tbody.append(row(["No playback in this range.", "", "", ""]));
}

const names = new Map();  // videoId → filename, of my videos

function fillVideos(tbody, videos) {
  tbody.replaceChildren(...videos.map((v) => row([names.get(v.videoId) || v.videoId, String(v.totalViews), seconds(v.avgBufferHealth, 1)])));
  if (!videos.length) tbody.append(row(["No playback in this range.", "", ""]));
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(Object.assign(document.createElement("td"), { textContent: cell }));
  return tr;
}

function withDefaults(config) {
  return {
    ...config,
    options: {
      animation: false,  // the figures are read once; a redraw should not be a show
      maintainAspectRatio: false,
      plugins: { legend: { display: config.type === "doughnut" || config.data.datasets.length > 1 } },
      ...config.options,
    },
  };
}

function byDay(report, pick) {
  const found = new Map(report.days.map((day) => [day.day, day]));
  const days = daysBetween(report.from, report.to);
  return { labels: days, values: days.map((day) => (found.has(day) ? pick(found.get(day)) : 0)) };
}

function viewsChart(report) {
  const views = byDay(report, (d) => d.views);
  const watch = byDay(report, (d) => d.watchSeconds / 60);
  return {
    type: "bar",
    data: {
      labels: views.labels,
      datasets: [
        { label: "Views", data: views.values, backgroundColor: COLORS[0], yAxisID: "views" },
        { label: "Watch time (min)", data: watch.values, type: "line", borderColor: COLORS[1], backgroundColor: COLORS[1], yAxisID: "watch" },
      ],
    },
    options: {
      scales: {
        views: { position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "views" } },
        watch: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "minutes" } },
      },
    },
  };
}

function startupChart(histogram) {
  const labels = histogram.map((bucket, i) =>
    bucket.le === null ? `> ${histogram[i - 1].le} s` : `≤ ${bucket.le} s`);
  return {
    type: "bar",
    data: { labels, datasets: [{ label: "Views", data: histogram.map((b) => b.count), backgroundColor: COLORS[0] }] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "views" } } } },
  };
}

function bufferChart(byPosition) {
  const width = byPosition.bucketSeconds;
  return {
    type: "line",
    data: {
      labels: byPosition.buckets.map((b) => `${b.position}–${b.position + width} s`),
      datasets: [{ label: "Avg buffer health (s)", data: byPosition.buckets.map((b) => b.avgBufferHealth), borderColor: COLORS[1], backgroundColor: COLORS[1] }],
    },
    options: {
      scales: {
        x: { title: { display: true, text: "position in the video" } },
        y: { beginAtZero: true, title: { display: true, text: "seconds buffered ahead" } },
      },
    },
  };
}

function qualityChart(qualities) {
  return {
    type: "doughnut",
    data: {
      labels: qualities.map((q) => q.quality),
      datasets: [{ label: "Watch time (s)", data: qualities.map((q) => q.watchSeconds), backgroundColor: qualities.map((_, i) => COLORS[i % COLORS.length]) }],
    },
  };
}

function stallsChart(report) {
  const count = byDay(report, (d) => d.stallCount);
  const time = byDay(report, (d) => d.stallSeconds);
  return {
    type: "bar",
    data: {
      labels: count.labels,
      datasets: [
        { label: "Stalls", data: count.values, backgroundColor: COLORS[4], yAxisID: "count" },
        { label: "Stalled (s)", data: time.values, type: "line", borderColor: COLORS[2], backgroundColor: COLORS[2], yAxisID: "time" },
      ],
    },
    options: {
      scales: {
        count: { position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "stalls" } },
        time: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "seconds" } },
      },
    },
  };
}

function funnelChart(funnel) {
  const steps = [
    ["Created", funnel.created], ["Uploaded", funnel.uploaded], ["Completed", funnel.completed],
    ["Failed", funnel.failed], ["Still processing", funnel.processing], ["Still uploading", funnel.uploading],
  ];
  return {
    type: "bar",
    data: {
      labels: steps.map(([label]) => label),
      datasets: [{ label: "Videos", data: steps.map(([, n]) => n), backgroundColor: [COLORS[0], COLORS[0], COLORS[1], COLORS[4], COLORS[2], COLORS[2]] }],
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
}

// ---- loading ---------------------------------------------------------------------------------------
function range() {
  const params = new URLSearchParams();
  if ($("from").value) params.set("from", $("from").value);
  if ($("to").value) params.set("to", $("to").value);
  return params.size ? `?${params}` : "";
}

async function loadVideo() {
  const videoId = $("video-choice").value;
  if (!videoId) { $("video-report").hidden = true; return; }
  history.replaceState(null, "", `${location.pathname}#video=${videoId}`);
  const report = await api(`/api/videos/${videoId}/analytics${range()}`);
  window.vodkitDashboard.video = report;
  renderReport($("video-report"), report);
}

async function loadFleet() {
  try {
    const report = await api(`/api/analytics${range()}`);
    window.vodkitDashboard.fleet = report;
    renderReport($("fleet-report"), report);
  } catch (error) {
    if (error.status !== 403) throw error;  // not an admin: only my videos
    $("fleet-report").hidden = true;
  }
}

async function loadVideoChoices() {
  const { videos } = await api("/api/videos");
  const menu = $("video-choice");
  for (const video of videos) {
    names.set(video.videoId, video.filename);
    menu.append(Object.assign(document.createElement("option"), { value: video.videoId, textContent: `${video.filename} (${video.status})` }));
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("video");
  if (wanted && videos.some((v) => v.videoId === wanted)) menu.value = wanted;
  else if (videos.length) menu.value = videos[0].videoId;
}

async function refresh() {
  $("error").textContent = "";
  window.vodkitDashboard.loaded = false;
  try {
    await Promise.all([loadVideo(), loadFleet()]);
    window.vodkitDashboard.loaded = true;
  } catch (error) {
    $("error").textContent = `Analytics: ${error.message}`;
  }
}

// ---- start ----------------------------------------------------------------------------------------
window.vodkitDashboard = { loaded: false, video: null, fleet: null, refresh };
$("controls").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
$("video-choice").addEventListener("change", () => refresh());
if (!token) {
  $("error").textContent = "Open the dashboard with #token=… in its address, or sign in on the web page first.";
} else {
  loadVideoChoices().then(refresh, (error) => { $("error").textContent = `My videos: ${error.message}`; });
}
