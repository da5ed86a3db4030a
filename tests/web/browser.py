"""Running the explorer as a user does: `stylegen serve` in a subprocess, and its page in
headless Chromium (Debian's /usr/bin/chromium, through Python Playwright: its own browser
download needs the internet). Shared by the tests in tests/web and by
scripts/make_explorer_screenshot.py, so the README's screenshot comes from the tested flow.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stylegen

SRC = Path(stylegen.__file__).resolve().parents[1]
# Importing torch + FastAPI and loading the network: seconds when quiet, but the full suite on a
# shared 2-core machine (load average 17, nice 10) ran past 90 s. A deadline, not a wait.
SERVER_START_S = 300
URL_LINE = re.compile(r"^stylegen explorer: (http://\S+/) ")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WAIT_MS = 120_000  # one render on a busy 2-core machine stays far below this


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> int:
        """Ctrl-C, as a user would; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


def start_server(args: list[str], log: Path) -> Server:
    """`stylegen serve ARGS` in a subprocess (this checkout's source); waits for its URL line."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stylegen", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
    deadline = time.monotonic() + SERVER_START_S
    line = b""

    def fail(why: str) -> None:
        proc.kill()
        proc.wait()
        raise AssertionError(f"stylegen serve {why}: {log.read_text()[-2000:]}")

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"printed no URL in {SERVER_START_S} s")
            if not sel.select(min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                fail("exited before printing its URL")
            line += chunk
    match = URL_LINE.match(line.decode())
    assert match, line
    return Server(match.group(1), proc, log)


@contextmanager
def browser_page(viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A Playwright page in a fresh Chromium profile (deleted afterwards)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="stylegen-chromium-") as d:
        context = pw.chromium.launch_persistent_context(
            d,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=viewport or {"width": 1100, "height": 900},
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def open_page(page: Any, url: str) -> None:
    """Load the explorer and wait until its first image is shown."""
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", state="attached")
    wait_for_request(page, {})


def wait_for_request(page: Any, expected: dict[str, Any]) -> dict[str, Any]:
    """Wait until the image shown was rendered for a request with the `expected` fields (the
    page keeps one request in flight and renders the newest controls when it returns)."""
    page.wait_for_function(
        """(want) => {
            const img = document.getElementById("image");
            if (!img.dataset.request || !img.complete) return false;
            const got = JSON.parse(img.dataset.request);
            return Object.entries(want).every(
                ([k, v]) => JSON.stringify(got[k]) === JSON.stringify(v));
        }""",
        arg=expected,
    )
    return json.loads(page.get_attribute("#image", "data-request"))


def shown_png(page: Any) -> bytes:
    """The bytes of the PNG the page shows (read back from its blob URL)."""
    values = page.evaluate(
        """async () => {
            const res = await fetch(document.getElementById("image").src);
            return Array.from(new Uint8Array(await res.arrayBuffer()));
        }"""
    )
    return bytes(values)


def set_seed(page: Any, seed: int) -> None:
    page.fill("#seed", str(seed))


def set_psi(page: Any, psi: float) -> None:
    page.fill("#psi", f"{psi:g}")
