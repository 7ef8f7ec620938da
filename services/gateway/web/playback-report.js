// What a viewer experienced, reported to the gateway (`POST /api/playback-events`, docs/analytics.md):
// the view (startup time, time to the first segment), the level playing and every switch, buffer
// health every 2 s while playing (with the watch time and dropped frames since the last sample),
// stalls and hls.js errors. Batched: one request every 5 s at most (backing off on 429 and 503, and sending that batch again), the
// rest with navigator.sendBeacon when the page is hidden; at most 50 events a batch and 1000 batches a
// session, so no page can report faster than that whatever happens in it.
//
//   const report = startPlaybackReport({ hls, media, videoId, playbackUrl, userToken });
//   report.stop();  // before hls.destroy(): sends what is left (with sendBeacon)
"use strict";

(() => {
  const SAMPLE_MS = 2000;
  const SEND_MS = 5000;
  const MAX_SEND_MS = 60000;
  const MAX_EVENTS = 50;
  const MAX_BATCHES = 1000;
  const DETAIL = /^[A-Za-z0-9_.-]{1,64}$/;

  function randomId() {
    if (crypto.randomUUID) return crypto.randomUUID();  // secure contexts only (https, localhost)
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function viewerId() {
    let id = localStorage.getItem("vodkit.viewer");
    if (!id) {
      id = randomId();
      localStorage.setItem("vodkit.viewer", id);
    }
    return id;
  }

  const seconds = (ms) => Math.round(ms) / 1000;
  const now = () => Date.now() / 1000;

  function bufferAhead(media) {
    const at = media.currentTime;
    for (let i = 0; i < media.buffered.length; i++) {
      if (media.buffered.start(i) <= at + 0.1 && at <= media.buffered.end(i)) return media.buffered.end(i) - at;
    }
    return 0;
  }

  function frames(media) {
    if (typeof media.getVideoPlaybackQuality !== "function") return null;
    const quality = media.getVideoPlaybackQuality();
    return { dropped: quality.droppedVideoFrames, decoded: quality.totalVideoFrames };
  }

  function startPlaybackReport({ hls, media, videoId, playbackUrl, userToken }) {
    const url = new URL(playbackUrl, location.href);
    const endpoint = `${url.origin}/api/playback-events?token=${encodeURIComponent(url.searchParams.get("token") || "")}`;
    const session = { videoId, sessionId: randomId(), viewerId: viewerId() };
    const loadStarted = performance.now();
    const queue = [];
    let seq = 0;
    let playRequested = null;  // performance.now() of the first `play`
    let firstSegment = null;
    let viewed = false;
    let level = null;
    let stallStarted = null;
    let lastFrames = null;  // getVideoPlaybackQuality() at the last sample
    let playingSince = null;  // performance.now() since when frames have been advancing, if they are
    let watchedMs = 0;  // played since the last sample, before `playingSince`
    let sendEvery = SEND_MS;
    let lastSent = 0;
    let stopped = false;

    const push = (event) => {
      if (queue.length >= MAX_EVENTS && event.type === "buffer") return;  // keep the rare events, shed samples
      queue.push({ at: now(), ...event });
    };

    const levelNow = () => {
      const index = hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel;
      return hls.levels && hls.levels[index] ? hls.levels[index] : null;
    };
    // what the API takes of a level: a rung name (`720p`), its bitrate and height; null for an odd one
    const levelFields = (current) => current && current.height >= 10 && current.height <= 8640 &&
      Number.isFinite(current.bitrate) && current.bitrate >= 0 && current.bitrate <= 1e9
      ? { quality: `${current.height}p`, bitrate: Math.round(current.bitrate), height: current.height }
      : null;

    // watch time: wall-clock time while playing, stalls, seeks and pauses left out
    const startWatch = () => { if (playingSince === null) playingSince = performance.now(); };
    const stopWatch = () => {
      if (playingSince === null) return;
      watchedMs += performance.now() - playingSince;
      playingSince = null;
    };
    function takeWatch() {
      const wall = performance.now();
      const ms = watchedMs + (playingSince === null ? 0 : wall - playingSince);
      if (playingSince !== null) playingSince = wall;
      watchedMs = 0;
      return Math.min(600, Math.round(ms) / 1000);
    }

    function sample() {
      if (!viewed) return;
      const counted = frames(media);
      const current = levelFields(levelNow());
      const event = {
        type: "buffer",
        position: Math.min(media.currentTime || 0, 7 * 86400),
        bufferHealth: Math.min(bufferAhead(media), 3600),
        watch: takeWatch(),
      };
      if (current) Object.assign(event, current);
      if (counted && lastFrames) {
        event.droppedFrames = Math.min(1e6, Math.max(0, counted.dropped - lastFrames.dropped));
        event.decodedFrames = Math.min(1e6, Math.max(0, counted.decoded - lastFrames.decoded));
      }
      lastFrames = counted;
      push(event);
    }

    function endStall() {
      if (stallStarted === null) return;
      push({ type: "stall", position: media.currentTime || 0, duration: Math.min(3600, seconds(performance.now() - stallStarted)) });
      stallStarted = null;
    }

    function body() {
      const events = queue.splice(0, MAX_EVENTS);
      return JSON.stringify({ ...session, seq: seq++, events });
    }

    let unsent = null;  // a batch the gateway did not store (429, 503, the network): sent again, as it was

    async function send() {
      if (unsent === null && (!queue.length || seq >= MAX_BATCHES)) return;
      lastSent = performance.now();
      const headers = { "Content-Type": "application/json" };
      if (userToken) headers.Authorization = `Bearer ${userToken}`;
      const payload = unsent ?? body();
      unsent = null;
      try {
        const response = await fetch(endpoint, { method: "POST", headers, body: payload });
        const later = response.status === 429 || response.status === 503;
        if (later) unsent = payload;  // same seq: stored once, whichever try gets through
        sendEvery = later ? Math.min(MAX_SEND_MS, sendEvery * 2) : SEND_MS;
      } catch (error) {
        unsent = payload;
        sendEvery = Math.min(MAX_SEND_MS, sendEvery * 2);
      }
    }

    function beacon() {  // the page is going away (or the session ends): no answer will be read
      endStall();
      sample();
      while (unsent !== null || (queue.length && seq < MAX_BATCHES)) {
        const payload = unsent ?? body();
        unsent = null;
        const sent = navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([payload], { type: "application/json" }));
        if (!sent) fetch(endpoint, { method: "POST", headers: { "Content-Type": "application/json" }, body: payload, keepalive: true }).catch(() => {});
      }
    }

    const onHidden = () => { if (document.visibilityState === "hidden") beacon(); };
    const listeners = [
      [media, "play", () => { if (playRequested === null) playRequested = performance.now(); }],
      [media, "playing", () => {
        if (!viewed) {
          viewed = true;
          const started = playRequested === null ? loadStarted : playRequested;
          const view = { type: "view", startup: Math.min(600, seconds(performance.now() - started)) };
          if (firstSegment !== null) view.firstSegment = Math.min(600, firstSegment);
          push(view);
          const current = levelFields(levelNow());
          if (current && level === null) {
            level = current;
            push({ type: "level", ...current, switch: false });
          }
          lastFrames = frames(media);
        }
        endStall();
        startWatch();
      }],
      [media, "waiting", () => {
        stopWatch();
        if (viewed && !media.seeking && stallStarted === null) stallStarted = performance.now();
      }],
      [media, "seeking", stopWatch],
      [media, "seeked", () => { stallStarted = null; }],  // waiting for a seek is no stall
      [media, "pause", () => { stopWatch(); sample(); }],
      [media, "ended", () => { stopWatch(); sample(); }],
      [document, "visibilitychange", onHidden],
      [window, "pagehide", beacon],
    ];
    for (const [target, name, handler] of listeners) target.addEventListener(name, handler);

    const onFragment = () => { if (firstSegment === null) firstSegment = seconds(performance.now() - loadStarted); };
    const onLevel = (_, data) => {
      const current = levelFields(hls.levels[data.level]);
      if (!current || !viewed || (level && level.quality === current.quality && level.bitrate === current.bitrate)) return;
      push({ type: "level", ...current, switch: level !== null });
      level = current;
    };
    const onError = (_, data) => {
      const details = DETAIL.test(String(data.details)) ? String(data.details) : "otherError";
      push({ type: "error", fatal: Boolean(data.fatal), details });
    };
    hls.on(Hls.Events.FRAG_LOADED, onFragment);
    hls.on(Hls.Events.LEVEL_SWITCHED, onLevel);
    hls.on(Hls.Events.ERROR, onError);

    const timer = setInterval(() => {
      if (!media.paused) sample();
      if (performance.now() - lastSent >= sendEvery) send();
    }, SAMPLE_MS);

    return {
      session,
      flush: () => { sample(); return send(); },  // send now (tests): still 50 events a batch, 1000 a session
      stop() {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        hls.off(Hls.Events.FRAG_LOADED, onFragment);
        hls.off(Hls.Events.LEVEL_SWITCHED, onLevel);
        hls.off(Hls.Events.ERROR, onError);
        for (const [target, name, handler] of listeners) target.removeEventListener(name, handler);
        beacon();
      },
    };
  }

  window.startPlaybackReport = startPlaybackReport;
})();
