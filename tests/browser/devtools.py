"""A page in headless Chromium driven over the DevTools protocol: navigate, evaluate, drag files, screenshot.

Only what the web page test needs, on aiohttp's websocket client; no Playwright or Selenium.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.browser.conftest import start_chromium, stop_chromium


class Page:
    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.console: list[str] = []  # what the page logged or threw, for failure messages

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._socket.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = json.loads((await self._socket.receive()).data)
            if message.get("method") == "Runtime.consoleAPICalled":
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in message["params"]["args"])
                )
            elif message.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(message["params"]["exceptionDetails"]))
            elif message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """The value of `expression` once it is truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{expression!r} stayed falsy for {timeout}s; the page logged: {self.console[-10:]}")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && window.vodkit !== undefined", 30)

    async def center_of(self, selector: str) -> tuple[float, float]:
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        return float(box[0]), float(box[1])

    async def drop_files(self, selector: str, files: list[Path]) -> None:
        """Drag `files` from outside the browser and drop them on the element, as a person would."""
        x, y = await self.center_of(selector)
        data = {"items": [], "files": [str(f) for f in files], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            await self.send("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)

    async def hover(self, x: float, y: float) -> None:
        await self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@asynccontextmanager
async def open_page(profile: Path, log: Path, width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a reused profile's port is long gone
    with log.open("wb") as stderr:
        browser = await start_chromium(
            profile, stderr, "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"
        )
    try:
        port = await _devtools_port(profile / "DevToolsActivePort")
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with client.ws_connect(url, max_msg_size=0) as socket:
                page = Page(socket)
                await page.send("Page.enable")
                await page.send("Runtime.enable")
                yield page
    finally:
        await stop_chromium(browser)


async def _devtools_port(path: Path, timeout: float = 30) -> int:
    """Chromium writes the port it chose into the profile once it listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text().split()):
            return int(text[0])
        await asyncio.sleep(0.1)
    raise TimeoutError("Chromium did not open its DevTools port")
