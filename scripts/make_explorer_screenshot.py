"""Take the README's screenshot of the web explorer: docs/explorer.png.

    python scripts/make_explorer_screenshot.py RUN_OR_CHECKPOINT [--out docs/explorer.png]

Starts `stylegen serve` on a free port, drives the page in headless Chromium with the helpers of
the browser test (tests/web/browser.py): a seed, the truncation slider, SeFa directions with one
slider moved, then saves the page as a small palette PNG. Needs /usr/bin/chromium and the dev
extra (Playwright); run it from the repository root.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from tests.web.browser import (  # noqa: E402
    browser_page,
    open_page,
    set_psi,
    set_seed,
    start_server,
    wait_for_request,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("network")
    p.add_argument("--out", type=Path, default=Path("docs/explorer.png"))
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--psi", type=float, default=0.7)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        server = start_server(["--network", args.network, "--port", "0"], log)
        try:
            with browser_page({"width": 1000, "height": 760}) as page:
                open_page(page, server.url)
                set_seed(page, args.seed)
                set_psi(page, args.psi)
                wait_for_request(page, {"seed": args.seed, "psi": args.psi})
                page.click("#dir-load")  # SeFa, computed on first use
                page.wait_for_selector("#dir-sefa-0")
                page.fill("#dir-sefa-0", "2")
                page.wait_for_function(
                    "() => (document.getElementById('image').dataset.request || '')"
                    ".includes('edits')"
                )
                png = page.screenshot(full_page=False)
        finally:
            server.stop()
    # A palette PNG: the page is flat colours and grey images, so 256 colours lose nothing visible.
    shot = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
