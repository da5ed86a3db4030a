"""End to end in a real browser: `stylegen serve` (a subprocess on a free port, a tiny run
trained in the test) driven in headless Chromium. Moving the seed and truncation controls changes
the image, and every image shown is, pixel for pixel, the PNG `stylegen generate` writes for the
same seed and psi; a bad upload shows its message in the page; the page fetches nothing from
anywhere but the server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylegen.commands import main
from tests.web.browser import (
    CHROMIUM,
    browser_page,
    open_page,
    set_psi,
    set_seed,
    shown_png,
    start_server,
    wait_for_request,
)
from tests.web.conftest import png_of, png_to_array

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)",
)


def generated(run, seeds: str, psi: float, outdir) -> dict[int, np.ndarray]:
    """`stylegen generate`'s PNGs for `seeds` at `psi`, decoded: {seed: uint8 [C, H, W]}."""
    rc = main(
        ["generate", "--network", str(run), "--seeds", seeds, "--trunc", str(psi)]
        + ["--outdir", str(outdir), "--device", "cpu"]
    )
    assert rc == 0
    return {int(p.stem[4:]): png_to_array(p.read_bytes()) for p in outdir.glob("seed*.png")}


def test_the_page_shows_what_stylegen_generate_makes(server, trained_run, tmp_path):
    urls: list[str] = []
    script_errors: list[str] = []
    shown: dict[tuple[int, float], np.ndarray] = {}
    with browser_page() as page:
        page.on("request", lambda request: urls.append(request.url))
        page.on("pageerror", lambda exc: script_errors.append(str(exc)))
        open_page(page, server.url)
        shown[0, 1.0] = png_to_array(shown_png(page))
        # Only the controls of this network: an unconditional StyleGAN2, one network served.
        for hidden in ("#cyclegan", "#class-row", "#transform", "#latent-row", "#target-box"):
            assert not page.is_visible(hidden), hidden
        assert not page.is_visible("#network-label") and page.is_visible("#psi")

        set_seed(page, 5)  # typing a seed
        wait_for_request(page, {"seed": 5, "psi": 1})
        shown[5, 1.0] = png_to_array(shown_png(page))
        set_psi(page, 0.5)  # the truncation slider
        wait_for_request(page, {"seed": 5, "psi": 0.5})
        shown[5, 0.5] = png_to_array(shown_png(page))
        page.click("#seed-next")  # the step button
        wait_for_request(page, {"seed": 6, "psi": 0.5})
        shown[6, 0.5] = png_to_array(shown_png(page))

        # A bad upload: its message is shown in the page, and the page keeps working.
        bogus = {"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}
        page.set_input_files("#project-file", files=[bogus])
        page.click("#project-start")
        page.wait_for_selector("#error:not([hidden])")
        message = page.text_content("#error")
        assert "not an image" in message and "HTTP 415" in message, message
        set_seed(page, 2)
        wait_for_request(page, {"seed": 2, "psi": 0.5})
        page.screenshot(path=tmp_path / "explorer.png")

    assert script_errors == []
    # The controls changed the image...
    assert not np.array_equal(shown[0, 1.0], shown[5, 1.0])
    assert not np.array_equal(shown[5, 1.0], shown[5, 0.5])
    assert not np.array_equal(shown[5, 0.5], shown[6, 0.5])
    # ...into exactly what the command line makes.
    want = {
        **{(s, 1.0): img for s, img in generated(trained_run, "0,5", 1.0, tmp_path / "a").items()},
        **{(s, 0.5): img for s, img in generated(trained_run, "5-6", 0.5, tmp_path / "b").items()},
    }
    assert set(want) == set(shown)
    for key, img in shown.items():
        np.testing.assert_array_equal(img, want[key], err_msg=f"seed, psi = {key}")

    # Nothing from outside: every request went to the server (blob: URLs are the page's own).
    assert urls and (tmp_path / "explorer.png").stat().st_size > 0
    local = (server.url, f"blob:{server.url[:-1]}")
    assert [u for u in urls if not u.startswith(local)] == [], server.url
    assert server.url.startswith("http://127.0.0.1:")


@pytest.fixture(scope="module")
def multi_server(network_paths, tmp_path_factory):
    """`stylegen serve` with three networks: conditional StyleGAN2, StyleGAN3, CycleGAN."""
    log = tmp_path_factory.mktemp("web-multi") / "stderr.log"
    paths = [network_paths[k] for k in ("sg2c", "sg3", "cyclegan")]
    args = [a for p in paths for a in ("--network", p)]
    srv = start_server([*args, "--port", "0", "--threads", "1"], log)
    yield srv
    srv.stop()


def test_the_other_controls_switcher_downloads_projection_and_cyclegan(
    multi_server, network_paths, tmp_path
):
    from stylegen.checkpoint import load
    from stylegen.generate import generate_images
    from stylegen.latent.ws import render_ws_file

    G = load(network_paths["sg2c"], device="cpu")
    script_errors: list[str] = []
    with browser_page() as page:
        page.on("pageerror", lambda exc: script_errors.append(str(exc)))
        open_page(page, multi_server.url)
        assert page.is_visible("#network-label") and page.is_visible("#class-row")

        # Class, then a style-mixing preset, then a SeFa slider.
        page.select_option("#class", "2")
        wait_for_request(page, {"seed": 0, "class_idx": 2})
        want = generate_images(G, [0], 1.0, class_idx=2)[0].numpy()
        np.testing.assert_array_equal(png_to_array(shown_png(page)), want)
        page.click(".presets button[data-group='coarse']")
        wait_for_request(page, {"mix_seed": 1, "mix_from": 0, "mix_to": 3})
        assert not np.array_equal(png_to_array(shown_png(page)), want)
        page.click("#dir-load")
        page.wait_for_selector("#dir-sefa-0")
        page.fill("#dir-sefa-0", "3")
        wait_for_request(
            page, {"mix_seed": 1, "edits": [{"method": "sefa", "index": 0, "degree": 3}]}
        )

        # Downloads: the PNG shown, and a latent that renders it again.
        with page.expect_download() as dl:
            page.click("#download-png")
        assert dl.value.suggested_filename == "sg2c-seed0000.png"
        assert (png := Path(dl.value.path()).read_bytes()) == shown_png(page)
        with page.expect_download() as dl:
            page.click("#download-latent")
        latent = tmp_path / dl.value.suggested_filename
        dl.value.save_as(latent)
        np.testing.assert_array_equal(render_ws_file(G, latent)[0].numpy(), png_to_array(png))

        # Projection: upload, progress, then the projected latent drives the image.
        target = {"name": "t.png", "mimeType": "image/png", "buffer": png_of(want)}
        page.set_input_files("#project-file", files=[target])
        page.fill("#project-steps", "4")
        page.click("#project-start")
        page.wait_for_selector("#latent-row:not([hidden])")
        assert "projected latent p1: PSNR" in page.text_content("#latent-text")
        assert "done: step 4/4" in page.text_content("#project-status")
        wait_for_request(page, {"latent": "p1"})

        # The switcher: StyleGAN3 has translate/rotate...
        page.select_option("#network", "sg3")
        page.wait_for_selector("#transform:not([hidden])")
        assert not page.is_visible("#class-row")
        wait_for_request(page, {"rotate": 0})
        before = shown_png(page)
        page.fill("#rot", "30")
        wait_for_request(page, {"rotate": 30})
        assert shown_png(page) != before

        # ...and a CycleGAN run translates an upload both ways; a non-image is refused in the page.
        page.select_option("#network", "cyclegan")
        page.wait_for_selector("#cyclegan:not([hidden])")
        assert not page.is_visible("#stylegan")
        picture = {"name": "p.png", "mimeType": "image/png", "buffer": png_of(want.repeat(3, 0))}
        page.set_input_files("#translate-file", files=[picture])
        page.wait_for_function(
            "() => ['a2b', 'b2a'].every((d) => "
            "document.getElementById(`translate-${d}`).naturalWidth === 16)"
        )
        bogus = {"name": "x.png", "mimeType": "image/png", "buffer": b"not an image"}
        page.set_input_files("#translate-file", files=[bogus])
        page.wait_for_selector("#error:not([hidden])")
        assert "not an image" in page.text_content("#error")
    assert script_errors == []
