"""The web page's reporter (`web/playback-report.js`) under node, with a fake hls.js and `<video>`.

The script runs as the page runs it; what it would send is checked against the API's own model, so
the reporter and `POST /api/playback-events` cannot drift apart. The real browser and hls.js are the
browser tests' (tests/browser); here the events come in an order chosen to test each rule.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from vodkit_gateway.analytics_schemas import PlaybackBatch
from vodkit_gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit
SCRIPT = GatewaySettings(auth_secret="s").web_dir / "playback-report.js"  # type: ignore[call-arg]
VIDEO = "0f8fad5b-d9cb-469f-a165-70867728950e"

# A page with a clock the scenario moves; fetch and sendBeacon are recorded, not sent.
HARNESS = r"""
const vm = require("vm"), fs = require("fs");
let clock = 1000;
const sent = [];
const statuses = JSON.parse(process.argv[3] || "[]");  // the gateway's answers, in order; then 202
class Target {
  constructor() { this.h = {}; }
  addEventListener(n, f) { (this.h[n] ||= []).push(f); }
  removeEventListener(n, f) { this.h[n] = (this.h[n] || []).filter((g) => g !== f); }
  fire(n) { for (const f of this.h[n] || []) f(); }
}
const media = Object.assign(new Target(), {
  currentTime: 0, paused: true, seeking: false,
  buffered: { length: 1, start: () => 0, end: () => media.currentTime + 12 },
  getVideoPlaybackQuality: () => ({
    droppedVideoFrames: Math.floor(clock / 1000), totalVideoFrames: Math.floor(clock / 40),
  }),
});
const on = {};
const hls = {
  levels: [{ height: 720, bitrate: 2500000 }, { height: 480, bitrate: 1000000 }, { height: 0, bitrate: 64000 }],
  currentLevel: 0, loadLevel: 0, on: (e, f) => { on[e] = f; }, off: (e) => { delete on[e]; },
};
const page = {
  window: new Target(), document: Object.assign(new Target(), { visibilityState: "visible" }),
  localStorage: { data: {}, getItem(k) { return this.data[k] || null; }, setItem(k, v) { this.data[k] = v; } },
  crypto, URL, Blob, Math, JSON, Number, String, Boolean, Array, Uint8Array, Object,
  performance: { now: () => clock }, Date: { now: () => 1.7e12 + clock }, location: { href: "http://gw:8080/" },
  setInterval: () => 1, clearInterval: () => {},
  Hls: { Events: { FRAG_LOADED: "frag", LEVEL_SWITCHED: "level", ERROR: "error" } },
  fetch: async (url, init) => {
    sent.push({ via: "fetch", url, auth: init.headers.Authorization || null, body: init.body });
    return { status: statuses.length ? statuses.shift() : 202 };
  },
  navigator: { sendBeacon: (url, blob) => { sent.push({ via: "beacon", url, auth: null, blob }); return true; } },
};
vm.createContext(page);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), page);
(async () => {
  const report = page.window.startPlaybackReport({ hls, media, videoId: process.argv[2], userToken: "USER",
    playbackUrl: `http://gw:8080/videos/${process.argv[2]}/master.m3u8?token=PLAY%2FTOKEN` });
  clock += 300; on.frag();                              // first segment at 0.3 s
  on.level(null, { level: 0 });                         // before the first frame: not reported yet
  clock += 200; media.paused = false; media.fire("play");
  clock += 650; media.fire("playing");                  // first frame 0.65 s after play
  clock += 2000; media.currentTime = 2; await report.flush();
  clock += 1000; media.currentTime = 3; media.fire("waiting");
  clock += 1500; media.fire("playing");                 // a stall of 1.5 s
  hls.currentLevel = 1; on.level(null, { level: 1 });   // a switch to 480p
  on.level(null, { level: 1 });                         // the same level again: no new event
  on.level(null, { level: 2 });                         // audio only: no rung name, not reported
  on.error(null, { fatal: false, details: "bufferStalledError" });
  on.error(null, { fatal: true, details: "not a <name>" });
  clock += 500; media.seeking = true; media.fire("seeking"); media.fire("waiting");
  clock += 700; media.seeking = false; media.fire("seeked"); media.fire("playing");  // a seek is no stall
  clock += 2000; media.currentTime = 7;
  media.paused = true; media.fire("pause");
  clock += 60000;                                       // paused a minute: not watched
  report.stop();
  const out = [];
  for (const s of sent) out.push({ via: s.via, url: s.url, auth: s.auth, type: s.blob ? s.blob.type : null,
    body: JSON.parse(s.body || await s.blob.text()) });
  console.log(JSON.stringify(out));
})();
"""


def play(*statuses: int) -> list[dict[str, Any]]:
    """What the scenario sends, the gateway answering `statuses` first (then 202)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    argv = [node, "-e", HARNESS, str(SCRIPT), VIDEO, json.dumps(statuses)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout))


@pytest.fixture(scope="module")
def sent() -> list[dict[str, Any]]:
    return play()


def test_a_batch_the_gateway_did_not_store_is_sent_again_as_it_was() -> None:
    """A 503 (or 429, or no answer) lost the batch's events."""
    first, again, *_ = play(503)
    assert again["body"] == first["body"]  # the same seq: stored once, whichever try got through
    assert {e["type"] for e in first["body"]["events"]} >= {"view", "level"}


def events(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for request in sent for event in request["body"]["events"]]


def test_every_batch_is_one_the_api_takes(sent: list[dict[str, Any]]) -> None:
    batches = [PlaybackBatch.model_validate(request["body"]) for request in sent]
    assert [b.seq for b in batches] == list(range(len(batches)))
    assert {b.session_id for b in batches} == {batches[0].session_id}
    assert {b.video_id for b in batches} == {VIDEO}
    assert {request["url"] for request in sent} == {"http://gw:8080/api/playback-events?token=PLAY%2FTOKEN"}


def test_a_fetch_names_the_user_and_the_end_goes_by_beacon(sent: list[dict[str, Any]]) -> None:
    assert [(r["via"], r["auth"]) for r in sent] == [("fetch", "Bearer USER"), ("beacon", None)]
    assert sent[1]["type"] == "application/json"


def test_the_view_level_switch_stall_and_errors(sent: list[dict[str, Any]]) -> None:
    got = events(sent)
    view = next(e for e in got if e["type"] == "view")
    assert (view["startup"], view["firstSegment"]) == (0.65, 0.3)
    levels = [(e["quality"], e["switch"]) for e in got if e["type"] == "level"]
    assert levels == [("720p", False), ("480p", True)]
    assert [e["duration"] for e in got if e["type"] == "stall"] == [1.5]
    assert [(e["fatal"], e["details"]) for e in got if e["type"] == "error"] == [
        (False, "bufferStalledError"),
        (True, "otherError"),  # a name the API would refuse is sent as `otherError`
    ]


def test_watch_time_leaves_out_stalls_seeks_and_pauses(sent: list[dict[str, Any]]) -> None:
    buffers = [e for e in events(sent) if e["type"] == "buffer"]
    assert sum(e["watch"] for e in buffers) == 2 + 1 + 0.5 + 2  # playing: 2 s, 1 s, 0.5 s, then 2 s after the seek
    assert buffers[0]["bufferHealth"] == 12
    assert buffers[0]["quality"] == "720p"
    assert buffers[-1]["quality"] == "480p"
    assert all(e["droppedFrames"] >= 0 and e["decodedFrames"] > 0 for e in buffers)
