"""Subtitle files: WebVTT and SRT parsed into cues, SRT written as WebVTT, cues cut into HLS segments.

The gateway parses an upload to refuse a bad one (400) before anything is stored; the packager
parses the (already converted) WebVTT again to cut it along the video's segments. A file is
untrusted input: it must be UTF-8 (a BOM is fine), within a size and cue-count bound, with
well-formed timestamps and every cue ending at or after its start. Errors say which line is wrong,
never where anything lives on a server.

Cue text is kept as WebVTT cue text: SRT's `<i>`, `<b>` and `<u>` stay, other tags (`<font …>`) go,
and a bare `&`, `<` or `>` becomes its entity, so the text cannot open markup a player would read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# BCP 47, a conservative subset: language, then optionally script and region ("en", "zh-Hans", "pt-BR", "es-419")
LANGUAGE_PATTERN = r"[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?"
MAX_CUES = 20_000
MAX_CUE_TEXT = 2_000  # characters of one cue's text
SHORTEST_SEGMENT_S = 6  # the shortest HLS segment a ladder is cut in, for `repeated_bytes`
MAX_REPEATED_BYTES = 8 * 1024**2  # of a track's WebVTT segments together (`repeated_bytes`)
_TIMING_BYTES = 32  # "00:00:00.000 --> 00:00:00.000 " and the blank line after a cue
_MAX_MS = 100 * 3600 * 1000  # 100 hours
_VTT_TIME = r"(?:(\d{2,3}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_SRT_TIME = r"(\d{1,3}):([0-5]\d):([0-5]\d)[,.](\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+(.*))?$")
_SRT_TIMING = re.compile(rf"^{_SRT_TIME}[ \t]*-->[ \t]*{_SRT_TIME}(?:[ \t]+.*)?$")
_VTT_SETTING = re.compile(r"^(vertical|line|position|size|align|region):[^\s:]+$")
_HEADER = re.compile(r"^WEBVTT(?:[ \t].*)?$")
_SRT_TAG = re.compile(r"<(/?)([a-zA-Z]+)(?:\s[^<>]*)?>")
_KEPT_TAGS = {"i", "b", "u"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CaptionError(ValueError):
    """A subtitle file that cannot be used; the message says why, for the uploader."""


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str  # WebVTT cue text, lines joined by "\n", never empty
    settings: str = ""  # WebVTT cue settings, e.g. "align:start line:0"


def parse(data: bytes, max_bytes: int, max_cues: int = MAX_CUES) -> list[Cue]:
    """The cues of a WebVTT or SRT file (told apart by the WEBVTT header); CaptionError if it is bad."""
    text = decode(data, max_bytes)
    first = text.split("\n", 1)[0]
    return parse_webvtt(text, max_cues) if first.startswith("WEBVTT") else parse_srt(text, max_cues)


def decode(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise CaptionError(f"a subtitle file may be at most {max_bytes} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CaptionError(f"the file is not UTF-8 text (byte {error.start})") from None
    if _CONTROL.search(text):
        raise CaptionError("the file holds control characters: it is not a subtitle file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_webvtt(text: str, max_cues: int = MAX_CUES) -> list[Cue]:
    lines = text.split("\n")
    if not _HEADER.match(lines[0]):
        raise CaptionError("line 1: a WebVTT file starts with WEBVTT")
    header_end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))  # WEBVTT's own lines
    cues: list[Cue] = []
    for number, block in _blocks(lines[header_end:], first_line=header_end + 1):
        if block[0].startswith(("NOTE", "STYLE", "REGION")) and "-->" not in block[0]:
            continue
        if "-->" not in block[0]:  # a cue identifier first
            number, block = number + 1, block[1:]
        if not block:
            raise CaptionError(f"line {number - 1}: a cue identifier without a cue")
        match = _VTT_TIMING.match(block[0])
        if not match:
            raise CaptionError(f"line {number}: malformed cue timing (want HH:MM:SS.mmm --> HH:MM:SS.mmm)")
        start, end = _ms(match.groups()[0:4]), _ms(match.groups()[4:8])
        settings = _settings(match.group(9) or "", number)
        cues.append(_cue(start, end, "\n".join(block[1:]), number, settings))
        _bound(cues, max_cues)
    return _checked(cues)


def parse_srt(text: str, max_cues: int = MAX_CUES) -> list[Cue]:
    cues: list[Cue] = []
    for number, block in _blocks(text.split("\n"), first_line=1):
        if block[0].strip().isdigit():  # the cue's index
            number, block = number + 1, block[1:]
        match = _SRT_TIMING.match(block[0].strip()) if block else None
        if not match:
            raise CaptionError(f"line {number}: malformed SRT timing (want HH:MM:SS,mmm --> HH:MM:SS,mmm)")
        start, end = _ms(match.groups()[0:4]), _ms(match.groups()[4:8])
        cues.append(_cue(start, end, srt_text_to_webvtt("\n".join(block[1:])), number))
        _bound(cues, max_cues)
    if not cues:
        raise CaptionError("the file is neither WebVTT (no WEBVTT header) nor SRT (no cues)")
    return _checked(cues)


def srt_text_to_webvtt(text: str) -> str:
    """SRT cue text as WebVTT cue text: `<i>`, `<b>`, `<u>` kept, other tags dropped, `&<>` escaped."""
    kept: list[str] = []
    position = 0
    for match in _SRT_TAG.finditer(text):
        kept.append(_escape(text[position : match.start()]))
        if match.group(2).lower() in _KEPT_TAGS:
            kept.append(f"<{match.group(1)}{match.group(2).lower()}>")
        position = match.end()
    kept.append(_escape(text[position:]))
    return "".join(kept)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _blocks(lines: list[str], first_line: int) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = first_line
    for offset, line in enumerate(lines):
        if line.strip():
            if not current:
                start = first_line + offset
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _ms(parts: tuple[str | None, ...]) -> int:
    hours, minutes, seconds, millis = (int(p) if p else 0 for p in parts)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def _settings(text: str, line: int) -> str:
    settings = text.split()
    for setting in settings:
        if not _VTT_SETTING.match(setting):
            raise CaptionError(f"line {line}: unknown cue setting")
    return " ".join(settings)


def _cue(start: int, end: int, text: str, line: int, settings: str = "") -> Cue:
    if end < start:
        raise CaptionError(f"line {line}: the cue ends before it starts")
    if end > _MAX_MS:
        raise CaptionError(f"line {line}: the cue ends after 100 hours")
    if not text.strip():
        raise CaptionError(f"line {line}: the cue has no text")
    if "-->" in text:
        raise CaptionError(f"line {line + 1}: a cue's text may not hold '-->' (a missing blank line?)")
    if len(text) > MAX_CUE_TEXT:
        raise CaptionError(f"line {line + 1}: a cue's text may be at most {MAX_CUE_TEXT} characters")
    return Cue(start, end, text, settings)


def _bound(cues: list[Cue], max_cues: int) -> None:
    if len(cues) > max_cues:
        raise CaptionError(f"a subtitle file may hold at most {max_cues} cues")


def _checked(cues: list[Cue]) -> list[Cue]:
    if not cues:
        raise CaptionError("the file holds no cues")
    return cues


def check_within(cues: list[Cue], duration_s: float) -> None:
    """CaptionError if a cue ends after the video does (a rounding's worth of slack)."""
    limit = round(duration_s * 1000) + 500
    late = next((cue for cue in cues if cue.end_ms > limit), None)
    if late is not None:
        raise CaptionError(
            f"a cue at {timestamp(late.start_ms)} ends at {timestamp(late.end_ms)}, "
            f"after the video's end ({timestamp(round(duration_s * 1000))})"
        )


def clipped(cues: list[Cue], duration_s: float) -> list[Cue]:
    """The cues that start before the video ends, each ending by then at the latest."""
    end = round(duration_s * 1000)
    return [Cue(c.start_ms, min(c.end_ms, end), c.text, c.settings) for c in cues if c.start_ms < end]


def timestamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def to_webvtt(cues: list[Cue], header: str = "") -> str:
    """A WebVTT file of `cues`; `header` (e.g. an X-TIMESTAMP-MAP line) goes right after WEBVTT."""
    parts = ["WEBVTT" + (f"\n{header}" if header else "")]
    for cue in cues:
        timing = f"{timestamp(cue.start_ms)} --> {timestamp(cue.end_ms)}"
        parts.append(f"{timing} {cue.settings}".rstrip() + "\n" + cue.text)
    return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class SubtitleSegment:
    name: str
    duration_s: float
    text: str  # the segment's WebVTT


def segment_name(index: int) -> str:
    return f"seg_{index:05d}.vtt"


def segments(cues: list[Cue], durations: list[float], mpegts: int) -> list[SubtitleSegment]:
    """The cues cut along the video's segments (`durations`, in order), one WebVTT each.

    Cue times stay those of the whole video; `X-TIMESTAMP-MAP` maps WebVTT's 0 to `mpegts`, the first
    video presentation time (90 kHz) of the packaged segments, so a player lines them up. A cue that
    spans a boundary is in both segments (players drop the repeat); cues beyond the last segment go.
    Each segment lists its cues by start time, as WebVTT wants them.

    One sweep over the cues sorted by start: the work is the cues plus the segments plus what is
    written, never cues × segments. What is written is bounded where a file is accepted (`repeated_bytes`).
    """
    header = f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000"
    ordered = sorted(cues, key=lambda c: c.start_ms)
    out: list[SubtitleSegment] = []
    active: list[Cue] = []  # started before the segment's end, not yet over by its start
    following = 0
    start_ms = 0.0
    for index, duration in enumerate(durations):
        end_ms = start_ms + duration * 1000
        last = index == len(durations) - 1
        while following < len(ordered) and (
            ordered[following].start_ms < end_ms or (last and ordered[following].start_ms == end_ms)
        ):
            active.append(ordered[following])
            following += 1
        inside = [c for c in active if _overlaps(c, start_ms, end_ms, last)]
        out.append(SubtitleSegment(segment_name(index), duration, to_webvtt(inside, header)))
        active = [c for c in active if c.end_ms > end_ms]  # what can still overlap the next segment
        start_ms = end_ms
    return out


def _overlaps(cue: Cue, start_ms: float, end_ms: float, last: bool) -> bool:
    if cue.start_ms == cue.end_ms:  # an instant belongs to the segment it falls in
        return start_ms <= cue.start_ms < end_ms or (last and cue.start_ms == end_ms)
    return cue.start_ms < end_ms and cue.end_ms > start_ms


def repeated_bytes(cues: list[Cue], segment_s: float = SHORTEST_SEGMENT_S) -> int:
    """About how many bytes `segments` writes for `cues` at segments of `segment_s`: each cue (its text
    and timing line) once in every segment it spans. A few cues spanning hours would be written
    thousands of times over, so the gateway refuses a file above `MAX_REPEATED_BYTES`."""
    step = round(segment_s * 1000)
    return sum((len(c.text.encode()) + _TIMING_BYTES) * (c.end_ms // step - c.start_ms // step + 1) for c in cues)


def check_repeats(cues: list[Cue]) -> None:
    """CaptionError for cues that would be written over and over: each is in every segment it spans."""
    if repeated_bytes(cues) > MAX_REPEATED_BYTES:
        raise CaptionError(
            "cues overlap for too long: cut along the video's segments they would make over "
            f"{MAX_REPEATED_BYTES // 1024**2} MiB of WebVTT; shorten long cues or remove overlapping ones"
        )


def media_playlist(parts: list[SubtitleSegment]) -> str:
    """The subtitle rendition's VOD playlist, its durations those of the video's segments."""
    target = max((math.ceil(p.duration_s) for p in parts), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for part in parts:
        lines += [f"#EXTINF:{part.duration_s:.6f},", part.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def default_language(tracks: dict[str, tuple[int, bool]]) -> str | None:
    """The track a player shows unasked, of `tracks` (language → (revision, made default)): the one last
    made default, else the first added; None without tracks. The gateway lists and the master marks the same one."""
    flagged = [(revision, language) for language, (revision, default) in tracks.items() if default]
    if flagged:
        return max(flagged)[1]
    return min(((revision, language) for language, (revision, _) in tracks.items()), default=(0, None))[1]
