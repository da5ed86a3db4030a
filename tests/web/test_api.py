"""The explorer's HTTP API through FastAPI's TestClient: every image equals what the library
makes for the same settings, bad values are 4xx with a message naming the valid range, uploads
are checked, and projection runs in the background while other requests are served."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from stylegen.generate import generate_images, set_input_transform
from stylegen.latent.edit import edit_images
from stylegen.latent.mixing import mix_ws
from stylegen.latent.targets import prepare_target
from stylegen.latent.ws import render_ws, render_ws_file, ws_from_seeds
from stylegen.translate import translate_images
from stylegen.web.state import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from tests.web.conftest import png_of, png_to_array

TIMEOUT = 120  # seconds to wait for a projection on a busy machine


def image(client, net: str, **body) -> np.ndarray:
    r = client.post(f"/api/networks/{net}/image", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return png_to_array(r.content)


def G_of(explorer, net: str):
    return explorer.network(net).G


def test_networks_are_described(client):
    nets = {n["id"]: n for n in client.get("/api/networks").json()}
    assert list(nets) == ["sg2c", "sg2", "sg3", "cyclegan"]
    assert nets["sg2c"]["kind"] == "stylegan2" and nets["sg2c"]["c_dim"] == 3
    assert nets["sg2c"]["class_names"] == ["0", "1", "2"]
    assert nets["sg2c"]["directions"] == ["sefa", "ganspace", "class"]
    assert nets["sg2"]["groups"] == {"coarse": [0, 1, 2, 3], "middle": [4, 5], "fine": []}
    assert nets["sg3"]["kind"] == "stylegan3" and nets["cyclegan"]["kind"] == "cyclegan"
    assert client.get("/api/networks/sg3").json() == nets["sg3"]
    r = client.get("/api/networks/nope")
    assert r.status_code == 404 and "served: sg2c, sg2, sg3, cyclegan" in r.json()["detail"]


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "stylegen explorer" in page.text
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    # Nothing from outside: every src/href is relative or a data: URL.
    for attr in ("src=", "href="):
        for part in page.text.split(attr)[1:]:
            url = part[1:].split(part[0])[0]
            assert not url.startswith(("http:", "https:", "//")), url


@pytest.mark.parametrize(
    "net, seed, psi, cls, noise",
    [
        ("sg2c", 5, 0.7, 2, "const"),
        ("sg2", 3, 1.0, None, "const"),
        ("sg2", 3, 0.5, None, "none"),
        ("sg3", 11, 0.6, None, "const"),
    ],
)
def test_image_equals_generate(client, explorer, net, seed, psi, cls, noise):
    body = {"seed": seed, "psi": psi, "noise_mode": noise}
    if cls is not None:
        body["class_idx"] = cls
    want = generate_images(G_of(explorer, net), [seed], psi, class_idx=cls, noise_mode=noise)[0]
    np.testing.assert_array_equal(image(client, net, **body), want.numpy())


def test_out_of_range_values_are_422_with_the_valid_range(client):
    cases = [
        ("sg2", {"seed": 2**32}, "less than or equal to 4294967295 (valid range 0 to 4294967295)"),
        ("sg2", {"seed": -1}, "seed: Input should be greater than or equal to 0 (valid range 0 to"),
        ("sg2", {"mix_seed": -1}, "mix_seed: Input should be greater than or equal to 0 (valid"),
        (
            "sg2c",
            {"seed": 1, "class_idx": -1},
            "class -1 is out of range; this network has classes 0-2",
        ),
        ("sg2c", {"seed": 1, "class_idx": 2**70}, "this network has classes 0-2"),
        (
            "sg2c",
            {"seed": 1, "class_idx": 3},
            "class 3 is out of range; this network has classes 0-2",
        ),
        ("sg2c", {"seed": 1}, "pass class_idx in 0-2"),
        ("sg2", {"seed": 1, "class_idx": 0}, "unconditional"),
        ("sg2", {"mix_seed": 1, "mix_to": 8}, "ws index 8 is out of range; use 0-5"),
        ("sg2", {"psi": 5}, "psi: Input should be less than or equal to 2 (valid range -2 to 2)"),
        (
            "sg2",
            {"edits": [{"method": "sefa", "index": -1, "degree": 1}]},
            "edits.0.index: Input should be greater than or equal to 0 (valid range 0 to 4096)",
        ),
        ("sg2", {"rotate": 10}, "need a StyleGAN3 network"),
        ("sg2", {"edits": [{"method": "sefa", "index": 999, "degree": 1}]}, "directions 0-"),
        ("sg2", {"latent": "p999"}, "latent 'p999' is unknown"),
        ("sg2", {"bogus": 1}, "bogus: Extra inputs are not permitted"),
    ]
    for net, body, message in cases:
        r = client.post(f"/api/networks/{net}/image", json=body)
        assert r.status_code == 422, (body, r.text)
        assert message in r.json()["message"], (body, r.json())
        assert isinstance(r.json()["detail"], list)  # FastAPI's validation format


def test_mixing_and_interpolation_equal_the_library(client, explorer):
    G = G_of(explorer, "sg2")
    base, other = ws_from_seeds(G, [4]), ws_from_seeds(G, [9])
    mixed = render_ws(G, mix_ws(base, other, [0, 1, 2, 3])[0])[0]
    got = image(client, "sg2", seed=4, mix_seed=9, mix_from=0, mix_to=3)
    np.testing.assert_array_equal(got, mixed.numpy())
    assert not np.array_equal(got, generate_images(G, [4])[0].numpy())
    for space in ("w", "z"):
        start = image(client, "sg2", seed=4, interp_seed=9, interp_t=0, interp_space=space)
        end = image(client, "sg2", seed=4, interp_seed=9, interp_t=1, interp_space=space)
        np.testing.assert_array_equal(start, generate_images(G, [4])[0].numpy())
        np.testing.assert_array_equal(end, generate_images(G, [9])[0].numpy())
        middle = image(client, "sg2", seed=4, interp_seed=9, interp_t=0.5, interp_space=space)
        assert not np.array_equal(middle, start) and not np.array_equal(middle, end)


@pytest.mark.parametrize("method", ["sefa", "ganspace", "class"])
def test_direction_sliders_edit_like_the_library(client, explorer, method):
    net = "sg2c"
    G = G_of(explorer, net)
    r = client.get(f"/api/networks/{net}/directions/{method}")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["count"] == (
        G.c_dim if method == "class" else G.w_dim if method == "sefa" else G.w_dim
    )
    assert client.get(f"/api/networks/{net}/directions/{method}").json()["cached"]
    d = explorer.network(net).directions(method)
    ws = ws_from_seeds(G, [6], 0.8, class_idx=1)
    want = edit_images(G, ws, d.vectors[1], [1.5], d.layers)[0, 0]
    edit = {"method": method, "index": 1, "degree": 1.5}
    got = image(client, net, seed=6, psi=0.8, class_idx=1, edits=[edit])
    np.testing.assert_array_equal(got, want.numpy())
    zero = image(client, net, seed=6, psi=0.8, class_idx=1, edits=[{**edit, "degree": 0}])
    np.testing.assert_array_equal(zero, generate_images(G, [6], 0.8, class_idx=1)[0].numpy())


def test_class_directions_need_a_conditional_network(client):
    r = client.get("/api/networks/sg2/directions/class")
    assert r.status_code == 422 and "conditional" in r.json()["message"]


def test_stylegan3_translate_rotate_equal_generate(client, explorer):
    import copy

    G = copy.deepcopy(G_of(explorer, "sg3"))
    set_input_transform(G, (0.1, -0.05), 20)
    want = generate_images(G, [2], 0.7)[0].numpy()
    got = image(client, "sg3", seed=2, psi=0.7, translate_x=0.1, translate_y=-0.05, rotate=20)
    np.testing.assert_array_equal(got, want)
    # The served network's own transform is back to identity for the next request.
    plain = generate_images(G_of(explorer, "sg3"), [2], 0.7)[0].numpy()
    np.testing.assert_array_equal(image(client, "sg3", seed=2, psi=0.7), plain)
    assert not np.array_equal(got, plain)


def test_latent_download_renders_the_same_image(client, explorer, tmp_path):
    body = {"seed": 8, "psi": 0.9, "mix_seed": 1, "mix_from": 4, "mix_to": 5}
    shown = image(client, "sg2", **body)
    r = client.post("/api/networks/sg2/latent", json=body)
    assert r.status_code == 200 and "seed0008.ws.safetensors" in r.headers["content-disposition"]
    path = tmp_path / "latent.safetensors"
    path.write_bytes(r.content)
    np.testing.assert_array_equal(render_ws_file(G_of(explorer, "sg2"), path)[0].numpy(), shown)


def _wait(explorer, job_id: str):
    job = explorer.job(job_id)
    assert job.finished.wait(TIMEOUT), f"projection {job_id} did not end in {TIMEOUT} s"
    return job


def test_projection_finds_the_latent_and_the_other_controls_use_it(client, explorer):
    from stylegen.images import uint8_to_float
    from stylegen.metrics.image_quality import psnr

    G = G_of(explorer, "sg2")
    target = generate_images(G, [21], 0.6)[0]
    r = client.post("/api/networks/sg2/projections?steps=60", content=png_of(target))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["state"] in ("queued", "running")
    _wait(explorer, job_id)
    status = client.get(f"/api/projections/{job_id}").json()
    assert status["state"] == "done" and status["step"] == 60 and status["latent"] == job_id
    assert status["psnr"] > 20, status
    shown = image(client, "sg2", latent=job_id)
    latent = explorer.latent(job_id)
    np.testing.assert_array_equal(shown, render_ws(G, latent.ws, latent.noise)[0].numpy())
    got = float(
        psnr(uint8_to_float(torch.from_numpy(shown.copy())[None]), uint8_to_float(target[None]))
    )
    assert got == pytest.approx(status["psnr"], abs=1e-3)
    # The projected latent feeds mixing and edits like a seed's.
    mixed = image(client, "sg2", latent=job_id, mix_seed=3, mix_from=0, mix_to=3)
    assert not np.array_equal(mixed, shown)
    r = client.post("/api/networks/sg2c/image", json={"latent": job_id, "class_idx": 0})
    assert r.status_code == 422 and "belongs to network sg2" in r.json()["message"]


def test_projection_runs_in_the_background(client, explorer):
    target = generate_images(G_of(explorer, "sg2"), [5])[0]
    r = client.post("/api/networks/sg2/projections?steps=2000", content=png_of(target))
    assert r.status_code == 202, r.text
    job = explorer.job(r.json()["id"])
    assert job.stepped.wait(TIMEOUT)
    image(client, "sg2", seed=1)  # answered while the projection runs
    image(client, "sg3", seed=1)
    assert client.get("/api/networks").status_code == 200
    assert job.state == "running" and job.step < job.steps
    r = client.delete(f"/api/projections/{job.id}")
    assert r.status_code == 200
    _wait(explorer, job.id)
    assert client.get(f"/api/projections/{job.id}").json()["state"] == "cancelled"
    assert client.get("/api/projections/nope").status_code == 404


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds no pixel data (a decompression bomb's
    header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_bad_uploads_are_4xx_with_a_message_and_the_server_keeps_serving(client):
    noisy = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (3, 64, 64), np.uint8))
    good = png_of(noisy)  # noise: the first half of the file holds the header and some pixels
    cases = [
        (b"this is not an image", 415, "not an image"),
        (b"", 415, "empty"),
        (good[: len(good) // 2], 415, "damaged image"),
        (_png_header(9000, 9000), 413, f"more than the {MAX_UPLOAD_PIXELS:,} allowed"),
        (b"\0" * (50 * 2**20), 413, f"more than the {MAX_UPLOAD_BYTES // 2**20} MiB allowed"),
    ]
    for url in ("/api/networks/sg2/projections?steps=5", "/api/networks/cyclegan/translate"):
        for data, status, message in cases:
            r = client.post(url, content=data)
            assert r.status_code == status, (url, r.text[:200])
            assert message in r.json()["detail"], r.json()
    assert client.get("/api/networks").status_code == 200
    image(client, "sg2", seed=0)


def test_cyclegan_translates_both_ways(client, explorer):
    from PIL import Image

    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    import io

    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    for direction in ("a2b", "b2a"):
        r = client.post(
            f"/api/networks/cyclegan/translate?direction={direction}", content=buf.getvalue()
        )
        assert r.status_code == 200, r.text
        G = explorer.network("cyclegan").translators[direction]
        arr, notes = prepare_target(picture, 16, 3)
        want = translate_images(G, torch.from_numpy(arr)[None])[0]
        np.testing.assert_array_equal(png_to_array(r.content), want.numpy())
        assert "centre-cropped 30x40" in r.headers["x-input-notes"]


def test_network_kinds_are_kept_apart(client):
    r = client.post("/api/networks/cyclegan/image", json={"seed": 1})
    assert r.status_code == 422 and "CycleGAN translator" in r.json()["message"]
    r = client.post("/api/networks/sg2/translate", content=b"x")
    assert r.status_code == 422 and "not a CycleGAN translator" in r.json()["message"]


def test_projection_arguments_are_checked(client):
    png = png_of(torch.zeros(1, 16, 16, dtype=torch.uint8))
    r = client.post("/api/networks/sg2/projections?steps=0", content=png)
    assert r.status_code == 422 and "steps" in r.json()["message"]
    assert "(valid range 1 to 2000)" in r.json()["message"]
    r = client.post("/api/networks/sg2c/projections?steps=5&class_idx=7", content=png)
    assert r.status_code == 422 and "classes 0-2" in r.json()["message"]


@pytest.mark.parametrize("net, extra", [("sg2c", ["--class", "1"]), ("sg3", [])])
def test_image_equals_the_stylegen_generate_command(client, network_paths, tmp_path, net, extra):
    """The PNG the page shows (and downloads) is the file `stylegen generate` writes."""
    from stylegen.commands import main

    rc = main(
        ["generate", "--network", network_paths[net], "--seeds", "7", "--trunc", "0.6"]
        + ["--outdir", str(tmp_path), "--device", "cpu", *extra]
    )
    assert rc == 0
    body = {"seed": 7, "psi": 0.6, **({"class_idx": 1} if extra else {})}
    r = client.post(f"/api/networks/{net}/image", json=body)
    want = png_to_array((tmp_path / "seed0007.png").read_bytes())
    np.testing.assert_array_equal(png_to_array(r.content), want)
    assert float(r.headers["x-render-ms"]) > 0


def test_every_network_renders_its_own_images(client, explorer):
    """The switcher: the same request to each served network gives that network's image."""
    seen = {}
    for net in ("sg2", "sg3"):
        seen[net] = image(client, net, seed=3, psi=0.8)
        want = generate_images(G_of(explorer, net), [3], 0.8)[0].numpy()
        np.testing.assert_array_equal(seen[net], want)
    assert not np.array_equal(seen["sg2"], seen["sg3"])


def test_the_same_folder_twice_gets_two_ids(network_paths):
    from stylegen.web.state import load_networks

    nets = load_networks([network_paths["sg2"], network_paths["sg2"]], "cpu")
    assert [n.id for n in nets] == ["sg2", "sg2-2"]


def test_projected_latent_downloads_with_its_noise(client, explorer, tmp_path):
    """A projected latent's download holds its noise maps: the ws file renders the page's image."""
    target = generate_images(G_of(explorer, "sg2"), [13], 0.5)[0]
    r = client.post("/api/networks/sg2/projections?steps=10&space=w%2B", content=png_of(target))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert _wait(explorer, job_id).state == "done"
    shown = image(client, "sg2", latent=job_id)
    r = client.post("/api/networks/sg2/latent", json={"latent": job_id})
    assert r.status_code == 200 and f"{job_id}.ws.safetensors" in r.headers["content-disposition"]
    path = tmp_path / "p.ws.safetensors"
    path.write_bytes(r.content)
    np.testing.assert_array_equal(render_ws_file(G_of(explorer, "sg2"), path)[0].numpy(), shown)


def test_openapi_schema_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/api/networks",
        "/api/networks/{network_id}",
        "/api/networks/{network_id}/image",
        "/api/networks/{network_id}/latent",
        "/api/networks/{network_id}/directions/{method}",
        "/api/networks/{network_id}/projections",
        "/api/projections/{job_id}",
        "/api/networks/{network_id}/translate",
    }


def test_projections_work_after_an_app_over_the_explorer_shut_down(explorer):
    """An app's lifespan ends with explorer.shutdown(); the explorer still projects afterwards."""
    from fastapi.testclient import TestClient

    from stylegen.web.app import create_app

    target = png_of(generate_images(G_of(explorer, "sg2"), [2])[0])
    for _ in range(2):
        with TestClient(create_app(explorer)) as c:
            r = c.post("/api/networks/sg2/projections?steps=3", content=target)
            assert r.status_code == 202, r.text
            assert _wait(explorer, r.json()["id"]).state == "done"
