"""`stylegen serve`: the web explorer (stylegen/web) on a local HTTP server.

Loads every --network first (a bad one is one line and exit 2), binds the port itself (a port in
use is one line naming it and --port), prints the URL, then runs uvicorn on that socket until
Ctrl-C. FastAPI and uvicorn are imported here on use, so `stylegen --help` stays fast; without
them the command says how to install the `web` extra.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys

from stylegen.commands.common import Subparsers, default_device
from stylegen.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
INSTALL_HINT = "pip install 'stylegen[web]'"


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="web explorer: seeds, mixing, interpolation, directions, projection in a browser",
        description="Serve a local web page (and its JSON API, see /openapi.json) to explore "
        "StyleGAN networks (seed, class, truncation, style mixing, interpolation, SeFa/GANSpace "
        "directions, StyleGAN3 translate/rotate, projection of uploaded images) and to translate "
        "images with CycleGAN networks. Binds to 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument(
        "--network",
        action="append",
        required=True,
        help="checkpoint folder, run folder, official .pkl or CycleGAN run; repeat to serve "
        "several (the page has a switcher)",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only; 0.0.0.0 opens it "
        "to the network, without any login)",
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 = a free one"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--lpips", default=None, help="LPIPS VGG-16 weights for projection's loss")
    p.add_argument("--detector", default=None, help="FID Inception weights file (else packaged)")
    p.set_defaults(func=run)


def require_web_extra() -> None:
    """A one-line UserError naming the install command when FastAPI or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"stylegen serve needs the web extra ({exc.name or 'fastapi'} is not installed): "
            f"{INSTALL_HINT}"
        ) from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a one-line UserError when that is impossible."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port} must lie in 0-65535 (0 picks a free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"--host {host} is not an address of this machine ({exc})") from None
    family, socktype, proto, _, address = infos[0]
    # The protocol must be IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of
    # such sockets, and without it every response (headers, then body) waits ~40 ms for the
    # client's delayed ACK.
    sock = socket.socket(family, socktype, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is in use (another stylegen serve?); pick another with "
                "--port N, or --port 0 for a free one"
            ) from None
        if exc.errno == errno.EACCES:
            raise UserError(
                f"no permission to bind port {port}; use a port above 1023 with --port"
            ) from None
        raise UserError(f"cannot bind {host}:{port} ({exc.strerror}); pick --host/--port") from None
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def run(args: argparse.Namespace) -> int:
    require_web_extra()
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads} must be >= 1")
    import torch
    import uvicorn

    from stylegen.web.app import create_app
    from stylegen.web.state import Explorer, load_networks

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = args.device or default_device()
    networks = load_networks(args.network, device)
    perceptual = None
    if args.lpips is not None or args.detector is not None:
        from stylegen.latent.perceptual import load_perceptual

        def perceptual():
            return load_perceptual(args.lpips, args.detector, device=device)

    if args.host not in LOCAL_HOSTS:
        print(
            f"warning: --host {args.host} makes the explorer reachable from other machines, "
            f"and it has no login; leave --host out to keep it on {DEFAULT_HOST}",
            file=sys.stderr,
        )
    sock = bind(args.host, args.port)
    app = create_app(Explorer(networks, perceptual=perceptual))
    names = ", ".join(n.id for n in networks)
    print(f"stylegen explorer: {url_of(sock, args.host)} (serving {names}; Ctrl-C stops it)")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="info" if args.verbose else "warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
