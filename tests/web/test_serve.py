"""`stylegen serve` as a user meets it: bad starts are one line and exit 2, it binds to this
machine unless told otherwise (and warns when told), and a real server (a subprocess on a free
port) answers 20 requests at once and survives a 50 MB upload."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import numpy as np
import pytest

from stylegen.commands import main
from tests.web.browser import SRC
from tests.web.conftest import png_to_array

TIMEOUT = 120  # seconds for one HTTP answer on a busy machine


def one_line_error(capsys, rc: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_an_unknown_network_path_is_one_line_and_exit_2(capsys, tmp_path):
    rc = main(["serve", "--network", str(tmp_path / "nope")])
    one_line_error(capsys, rc, f"--network {tmp_path / 'nope'} does not exist", "run folder")


def test_a_folder_without_a_network_is_one_line_and_exit_2(capsys, tmp_path):
    rc = main(["serve", "--network", str(tmp_path)])
    one_line_error(capsys, rc, str(tmp_path))


def test_a_port_in_use_names_the_port_and_the_flag(capsys, network_paths):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        rc = main(["serve", "--network", network_paths["sg2"], "--port", str(port)])
    one_line_error(capsys, rc, f"port {port} on 127.0.0.1 is in use", "--port")


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_a_port_out_of_range_is_one_line(capsys, network_paths, port):
    rc = main(["serve", "--network", network_paths["sg2"], "--port", port])
    one_line_error(capsys, rc, f"--port {port} must lie in 0-65535")


@pytest.fixture
def bound(monkeypatch):
    """Runs `stylegen serve` up to uvicorn, which is replaced: the sockets it would serve."""
    import uvicorn

    sockets = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: sockets_.extend(sockets))
    sockets_ = sockets
    yield sockets
    for s in sockets:
        s.close()


def test_it_binds_to_this_machine_unless_told(capsys, network_paths, bound):
    assert main(["serve", "--network", network_paths["sg2"], "--port", "0"]) == 0
    (sock,) = bound
    host, port = sock.getsockname()[:2]
    out, err = capsys.readouterr()
    assert host == "127.0.0.1"
    assert sock.proto == socket.IPPROTO_TCP  # so asyncio sets TCP_NODELAY: no 40 ms ACK stalls
    assert out == f"stylegen explorer: http://127.0.0.1:{port}/ (serving sg2; Ctrl-C stops it)\n"
    assert "warning" not in err


def test_it_warns_when_asked_to_bind_wider(capsys, network_paths, bound):
    rc = main(["serve", "--network", network_paths["sg2"], "--host", "0.0.0.0", "--port", "0"])
    assert rc == 0
    assert bound[0].getsockname()[0] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0 makes the explorer reachable from other machines" in err
    assert "no login" in err and "leave --host out" in err


def test_without_the_web_extra_it_says_how_to_install(capsys, monkeypatch, network_paths):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` raises ImportError
    rc = main(["serve", "--network", network_paths["sg2"]])
    one_line_error(capsys, rc, "needs the web extra", "pip install 'stylegen[web]'")


def test_help_imports_neither_torch_nor_fastapi():
    code = (
        "import sys\n"
        "from stylegen.commands import build_parser\n"
        "for argv in (['--help'], ['serve', '--help']):\n"
        "    try:\n"
        "        build_parser().parse_args(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('torch', 'fastapi', 'uvicorn', 'starlette', 'pydantic')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stderr.strip() == "[]"
    assert "--network" in out.stdout and "127.0.0.1" in out.stdout


# -- the real server ---------------------------------------------------------------------------


def post(url: str, data: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        return r.status, r.read()


def served_id(server) -> str:
    status, body = get(server.url + "api/networks")
    assert status == 200
    (net,) = json.loads(body)
    return net["id"]


def test_twenty_concurrent_requests_are_all_answered(server, trained_run):
    from stylegen.checkpoint import load
    from stylegen.generate import generate_images

    url = f"{server.url}api/networks/{served_id(server)}/image"
    barrier = Barrier(20)

    def one(seed: int) -> tuple[int, bytes]:
        body = json.dumps({"seed": seed, "psi": 0.7}).encode()
        barrier.wait(TIMEOUT)  # all 20 go out together
        return post(url, body, "application/json")

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one, range(20)))
    assert [status for status, _ in answers] == [200] * 20
    want = generate_images(load(trained_run, device="cpu"), list(range(20)), 0.7)
    for (_, png), img in zip(answers, want, strict=True):
        np.testing.assert_array_equal(png_to_array(png), img.numpy())


def test_a_50_mb_upload_is_413_and_the_server_keeps_serving(server):
    url = f"{server.url}api/networks/{served_id(server)}/projections?steps=5"
    status, body = post(url, b"\0" * (50 * 2**20), "application/octet-stream")
    assert status == 413 and "more than the 20 MiB allowed" in json.loads(body)["detail"]
    status, body = post(url, b"not an image", "application/octet-stream")
    assert status == 415 and "not an image" in json.loads(body)["detail"]
    assert get(server.url)[0] == 200
