// vodkit's web page: upload by drag and drop (the chunk API), my videos with live status
// (server-sent events), and a player (hls.js) with a quality menu, the poster and storyboard
// previews while scrubbing. No framework: the page is small enough to read top to bottom.
"use strict";

const $ = (id) => document.getElementById(id);
const PARALLEL_CHUNKS = 3;
const ATTEMPTS = 3;

// ---- who I am: a user token, kept in this browser ------------------------------------------
let token = localStorage.getItem("vodkit.token") || "";
const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromLink) {
  token = fromLink;
  localStorage.setItem("vodkit.token", token);
  history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- upload: chunks in parallel, each with its SHA-256, retried on network errors and 5xx ----
async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendChunk(grant, file, index, total) {
  const chunk = file.slice(index * grant.chunkSize, (index + 1) * grant.chunkSize);
  const form = new FormData();
  form.append("videoId", grant.videoId);
  form.append("chunkIndex", String(index));
  form.append("totalChunks", String(total));
  form.append("checksum", await sha256Hex(chunk));
  form.append("chunk", chunk, file.name);
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch("/api/videos/upload", {
        method: "POST",
        headers: { Authorization: `Bearer ${grant.uploadToken}` },
        body: form,
      });
      if (response.status === 401) {  // the upload token's hour is over: get a new one
        Object.assign(grant, await api("POST", `/api/videos/${grant.videoId}/upload-token`));
        continue;
      }
      if (response.ok) return chunk.size;
      const data = await response.json().catch(() => null);
      const message = (data && data.error && data.error.message) || `HTTP ${response.status}`;
      if (response.status < 500 || attempt >= ATTEMPTS) throw new Error(message);
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= ATTEMPTS) throw error;  // TypeError: the network
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (attempt - 1)));
  }
}

async function upload(file) {
  $("upload-error").textContent = "";
  $("uploading").hidden = false;
  $("upload-name").textContent = file.name;
  setUploadProgress(0);
  try {
    const grant = await api("POST", "/api/videos", {
      filename: file.name.slice(0, 255) || "upload",
      size: file.size,
      visibility: $("visibility").value,
    });
    const total = Math.max(1, Math.ceil(file.size / grant.chunkSize));
    let next = 0;
    let sent = 0;
    const worker = async () => {
      while (next < total) {
        const size = await sendChunk(grant, file, next++, total);
        sent += size;  // not `sent += await …`: that would read `sent` before the await, losing others' bytes
        setUploadProgress((100 * sent) / file.size);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CHUNKS, total) }, worker));
    return grant.videoId;
  } catch (error) {
    $("upload-error").textContent = `Upload failed: ${error.message}`;
    throw error;
  }
}

function setUploadProgress(percent) {
  $("upload-progress").value = percent;
  $("upload-percent").textContent = `${Math.floor(percent)}%`;
}

function setUpDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) upload(file).catch(() => {});
  });
  $("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) upload(file).catch(() => {});
    event.target.value = "";
  });
}

// ---- my videos: one server-sent event stream, reopened when it ends --------------------------
async function watchLibrary() {
  for (;;) {
    try {
      const response = await fetch("/api/videos/live", { headers: { Authorization: `Bearer ${token}` } });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        throw new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
      }
      $("library-error").textContent = "";
      $("live").classList.add("on");
      await readEvents(response.body, (data) => renderLibrary(JSON.parse(data).videos));
    } catch (error) {
      $("library-error").textContent = `My videos: ${error.message}`;
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      $("live").classList.remove("on");
    }
  }
}

async function readEvents(body, onData) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) onData(data);
    }
  }
}

function renderLibrary(videos) {
  const list = $("videos");
  list.replaceChildren(...videos.map(videoItem));
  if (!videos.length) list.append(element("li", { className: "meta" }, "No videos yet."));
  window.vodkit.videos = videos;
}

function videoItem(video) {
  const qualities = Object.entries(video.qualities).map(([rung, state]) => `${rung} ${state}`).join(", ");
  const item = element("li", { dataset: { videoId: video.videoId, status: video.status } });
  item.append(
    element("strong", {}, video.filename),
    actions(video),
    element("span", { className: `meta status-${video.status}` },
      `${video.status}${video.status === "processing" ? ` ${video.progress}%` : ""}` +
      `${qualities ? ` · ${qualities}` : ""} · ${video.visibility}${video.error ? ` · ${video.error}` : ""}`),
  );
  if (video.status === "processing") item.append(element("progress", { max: 100, value: video.progress }));
  return item;
}

function actions(video) {
  const box = element("span", { className: "actions" });
  if (video.playable) {  // completed, or an early preview while the ladder encodes
    const watch = element("button", { className: "watch" }, video.status === "completed" ? "Watch" : "Watch preview");
    watch.addEventListener("click", () => play(video.videoId).catch(() => {}));
    box.append(watch);
  }
  const visibility = element("select", { "aria-label": "Visibility" });
  for (const value of ["private", "unlisted", "public"]) visibility.append(element("option", { value }, value));
  visibility.value = video.visibility;
  visibility.addEventListener("change", () =>
    api("PATCH", `/api/videos/${video.videoId}`, { visibility: visibility.value }).catch(showLibraryError));
  box.append(visibility);
  if (video.status === "completed" || video.status === "failed") {
    const remove = element("button", {}, "Delete");
    remove.addEventListener("click", () => {
      if (confirm(`Delete ${video.filename}?`)) api("DELETE", `/api/videos/${video.videoId}`).catch(showLibraryError);
    });
    box.append(remove);
  }
  return box;
}

function showLibraryError(error) { $("library-error").textContent = error.message; }

function element(tag, properties, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- the player: hls.js, a quality menu, the poster, storyboard previews --------------------
let hls = null;
let report = null;  // what this playback reports (playback-report.js)

async function play(videoId) {
  $("player-error").textContent = "";
  const video = await api("GET", `/api/videos/${videoId}`);  // fresh signed URLs
  $("player").hidden = false;
  $("player-title").textContent = video.filename;
  const media = $("video");
  if (report) report.stop();
  if (hls) hls.destroy();
  media.poster = video.posterUrl || "";
  hls = new Hls({ capLevelToPlayerSize: false });
  window.vodkit.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => fillQualityMenu(data.levels));
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => fillSubtitleMenu(data.subtitleTracks));
  hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, (_, data) => { $("subtitles").value = String(data.id); });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    $("playing-level").textContent = `playing ${hls.levels[data.level].height}p`;
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    window.vodkit.errors.push(data.details);
    if (data.fatal) $("player-error").textContent = `Playback error: ${data.details}`;
  });
  report = startPlaybackReport({ hls, media, videoId, playbackUrl: video.playbackUrl, userToken: token });
  window.vodkit.report = report;
  hls.loadSource(video.playbackUrl);
  hls.attachMedia(media);
  storyboard = video.storyboardUrl ? await loadStoryboard(video.storyboardUrl) : [];
  $("player").scrollIntoView();
}

function fillQualityMenu(levels) {
  const menu = $("quality");
  menu.replaceChildren(element("option", { value: "-1" }, "Auto"));
  levels
    .map((level, index) => ({ index, height: level.height }))
    .sort((a, b) => b.height - a.height)
    .forEach(({ index, height }) => menu.append(element("option", { value: String(index) }, `${height}p`)));
  menu.value = "-1";
}

// the master's subtitle renditions (EXT-X-MEDIA TYPE=SUBTITLES): Off, then each by its name; hls.js starts
// with the DEFAULT=YES one showing
function fillSubtitleMenu(tracks) {
  const menu = $("subtitles");
  menu.replaceChildren(element("option", { value: "-1" }, "Off"));
  tracks.forEach((track, index) => menu.append(element("option", { value: String(index) }, track.name || track.lang)));
  menu.value = String(hls ? hls.subtitleTrack : -1);
}

function setUpPlayer() {
  const media = $("video");
  $("subtitles").addEventListener("change", (event) => {
    if (!hls) return;
    hls.subtitleTrack = Number(event.target.value);  // -1: none
    hls.subtitleDisplay = hls.subtitleTrack !== -1;
  });
  $("quality").addEventListener("change", (event) => {
    if (hls) hls.currentLevel = Number(event.target.value);  // -1: automatic switching
  });
  media.addEventListener("timeupdate", () => {
    if (media.duration) $("scrub").value = String(Math.round((1000 * media.currentTime) / media.duration));
  });
  const scrub = $("scrub");
  scrub.addEventListener("input", () => {
    if (!media.duration) return;
    const time = (scrub.value / 1000) * media.duration;
    showPreview(time, scrub.value / 1000);
    media.currentTime = time;
  });
  scrub.addEventListener("mousemove", (event) => {
    if (!media.duration) return;
    const box = scrub.getBoundingClientRect();
    const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    showPreview(share * media.duration, share);
  });
  scrub.addEventListener("mouseleave", () => { $("preview").hidden = true; });
  scrub.addEventListener("change", () => { $("preview").hidden = true; });
}

// The storyboard is WebVTT whose cues name a sprite sheet and a tile: `sprite_000.jpg?token=…#xywh=x,y,w,h`.
let storyboard = [];

async function loadStoryboard(url) {
  const response = await fetch(url);
  if (!response.ok) return [];
  const cues = [];
  const blocks = (await response.text()).split(/\n\n+/);
  for (const block of blocks) {
    const [timing, target] = block.trim().split("\n");
    const match = timing && target && timing.match(/([\d:.]+)\s+-->\s+([\d:.]+)/);
    const tile = target && target.match(/^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/);
    if (!match || !tile) continue;
    const [x, y, w, h] = tile.slice(2).map(Number);
    cues.push({ start: seconds(match[1]), end: seconds(match[2]), image: new URL(tile[1], url).href, x, y, w, h });
  }
  return cues;
}

function seconds(stamp) {
  return stamp.split(":").reduce((total, part) => total * 60 + Number(part), 0);
}

function showPreview(time, share) {
  const cue = storyboard.find((c) => time >= c.start && time < c.end) || storyboard[storyboard.length - 1];
  const preview = $("preview");
  if (!cue) { preview.hidden = true; return; }
  const image = $("preview-image");
  image.style.width = `${cue.w}px`;
  image.style.height = `${cue.h}px`;
  image.style.backgroundImage = `url("${cue.image}")`;
  image.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
  $("preview-time").textContent = new Date(time * 1000).toISOString().slice(11, 19);
  preview.style.left = `${share * 100}%`;
  preview.hidden = false;
  window.vodkit.preview = { time, image: cue.image, x: cue.x, y: cue.y };
}

// ---- start ---------------------------------------------------------------------------------
window.vodkit = { hls: null, report: null, videos: [], errors: [], preview: null, play, upload };
$("token").value = token;
$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  localStorage.setItem("vodkit.token", token);
  location.reload();
});
setUpDrop();
setUpPlayer();
if (token) watchLibrary();
else $("library-error").textContent = "Paste a user token above (run: vodkit token YOUR-NAME).";
