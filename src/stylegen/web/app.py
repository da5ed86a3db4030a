"""The web explorer's HTTP API (FastAPI) and its one static page.

`create_app(explorer)` returns an ASGI app; `stylegen serve` runs it with uvicorn. The page and
scripts share the same JSON API, described by the OpenAPI schema at /openapi.json (browsable at
/docs, which needs the Swagger files from a CDN: the explorer page itself fetches nothing from
outside). Routes:

    GET    /                                    the page (static/index.html, app.js, app.css)
    GET    /api/networks                        the served networks
    GET    /api/networks/{network}              one network (sizes, classes, style groups)
    POST   /api/networks/{network}/image        a PNG for a render request (JSON body)
    POST   /api/networks/{network}/latent       the request's latent as a ws file (download)
    GET    /api/networks/{network}/directions/{method}   SeFa / GANSpace / class directions
    POST   /api/networks/{network}/projections  upload an image (raw body): a background job
    GET    /api/projections/{job}               its progress, PSNR and finally its latent id
    DELETE /api/projections/{job}               cancel it
    POST   /api/networks/{network}/translate    CycleGAN: upload an image, get its translation

Errors: 404 unknown network or job; 413 upload too large; 415 not an image; 422 a value out of
range, in FastAPI's validation format plus a one-line `message` that names the valid range; 429
too many projections queued; 400 any other bad input (the library's UserError). Every other
error body is `{"detail": "<one line>"}`, which the page shows.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stylegen.errors import UserError
from stylegen.web.state import (
    MAX_UPLOAD_BYTES,
    SEED_MAX,
    Edit,
    Explorer,
    InvalidRequestError,
    RenderSpec,
    ServedNetwork,
    UploadError,
    png_bytes,
    read_upload,
    too_large_message,
)

__all__ = ["STATIC", "create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
DRAIN_LIMIT = 1 << 30  # an oversized upload is read and dropped up to this, then refused


# ---------------------------------------------------------------------------------------------
# Schemas


class ErrorMessage(BaseModel):
    detail: str


class EditModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["sefa", "ganspace", "class"]
    index: int = Field(ge=0, le=4096, description="direction number, strongest first")
    degree: float = Field(ge=-100, le=100, description="distance along the unit direction in W")


class RenderRequest(BaseModel):
    """One image: a seed (or a projected latent), then interpolation, mixing, edits, transform."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0, le=SEED_MAX, description=f"0-{SEED_MAX}, as `stylegen generate`")
    latent: str | None = Field(
        None, max_length=64, description="a projected latent's id: replaces the seed"
    )
    # No bounds here: the valid classes depend on the network, and its check names them.
    class_idx: int | None = Field(None, description="class of a conditional network")
    psi: float = Field(1.0, ge=-2, le=2, description="truncation psi")
    noise_mode: Literal["const", "random", "none"] = "const"
    mix_seed: int | None = Field(
        None, ge=0, le=SEED_MAX, description="style mixing: take ws mix_from-mix_to from it"
    )
    mix_from: int = Field(0, ge=0, le=4096)
    mix_to: int | None = Field(None, ge=0, le=4096, description="inclusive; default the last")
    interp_seed: int | None = Field(
        None, ge=0, le=SEED_MAX, description="interpolate towards this seed"
    )
    interp_t: float = Field(0.0, ge=0, le=1, description="0 = the seed, 1 = interp_seed")
    interp_space: Literal["z", "w"] = Field("w", description="slerp in Z or lerp in W")
    edits: list[EditModel] = Field(default_factory=list, max_length=32)
    translate_x: float = Field(0.0, ge=-1, le=1, description="StyleGAN3: image widths")
    translate_y: float = Field(0.0, ge=-1, le=1, description="StyleGAN3: image widths")
    rotate: float = Field(0.0, ge=-360, le=360, description="StyleGAN3: degrees")

    def spec(self) -> RenderSpec:
        values = self.model_dump(exclude={"edits"})
        return RenderSpec(**values, edits=[Edit(**e.model_dump()) for e in self.edits])


class NetworkInfo(BaseModel):
    id: str
    name: str
    path: str
    kind: Literal["stylegan2", "stylegan3", "cyclegan"]
    resolution: int
    channels: int
    c_dim: int
    class_names: list[str]
    num_ws: int
    w_dim: int
    z_dim: int
    groups: dict[str, list[int]]
    seed_max: int
    directions: list[str]


class DirectionsInfo(BaseModel):
    method: str
    count: int
    labels: list[str]
    values: list[float] = Field(
        description="SeFa eigenvalue, GANSpace standard deviation (W units), class norm"
    )
    layers: list[int]
    seconds: float = Field(description="time this request took")
    cached: bool = Field(description="computed by an earlier request")


class JobStatus(BaseModel):
    id: str
    network: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    step: int
    steps: int
    psnr: float | None
    ssim: float | None
    error: str | None
    latent: str | None = Field(description="when done: pass it as `latent` to /image")
    notes: list[str] = Field(description="how the upload was converted (crop, resize, channels)")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "bad input",
        404: "unknown network or job",
        413: "upload too large",
        415: "not an image",
        429: "too many projections queued",
    }
    return {c: {"model": ErrorMessage, "description": text[c]} for c in codes}


def _binary(media: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": f"the image file itself (PNG, JPEG, ...; at most {MAX_UPLOAD_BYTES} bytes)",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("image/png", "image/jpeg", "application/octet-stream")
        },
    }
}


# ---------------------------------------------------------------------------------------------
# Errors


def _unprocessable(errors: list[dict[str, Any]], message: str) -> JSONResponse:
    return JSONResponse(
        status_code=422, content={"detail": jsonable_encoder(errors), "message": message}
    )


BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its $ref followed and an Optional's null branch dropped."""
    for _ in range(8):
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
            if len(branches) != 1:
                break
            schema = branches[0]
        else:
            break
    return schema


def _field_schema(request: Request, loc: tuple[Any, ...]) -> dict[str, Any] | None:
    """The OpenAPI schema of the request field at `loc` (("body", "seed"), ("query", "steps"),
    ("body", "edits", 0, "index")), or None. Read from the app's own schema, so the ranges a
    message names are the ones the schema publishes."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    if path is None or len(loc) < 2:
        return None
    spec = request.app.openapi()
    operation = spec.get("paths", {}).get(path, {}).get(request.method.lower(), {})
    if loc[0] == "body":
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
    else:
        schema = next(
            (
                p.get("schema")
                for p in operation.get("parameters", [])
                if p.get("in") == loc[0] and p.get("name") == loc[1]
            ),
            None,
        )
        loc = loc[1:]
    for part in loc[1:]:
        if schema is None:
            return None
        schema = _resolve(schema, spec)
        schema = (
            schema.get("items") if isinstance(part, int) else schema.get("properties", {}).get(part)
        )
    return None if schema is None else _resolve(schema, spec)


def _valid_range(request: Request, loc: tuple[Any, ...]) -> str | None:
    try:
        schema = _field_schema(request, loc)
    except Exception:  # a message without the range beats a 500 while reporting a 422
        log.debug("no schema for %s", loc, exc_info=True)
        return None
    if not schema or "minimum" not in schema or "maximum" not in schema:
        return None
    # The schema writes every bound as a float (4294967295.0): show whole numbers as such.
    lo, hi = (
        int(v) if float(v).is_integer() else v for v in (schema["minimum"], schema["maximum"])
    )
    return f"valid range {lo} to {hi}"


def _validation_message(request: Request, errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        where = ".".join(str(p) for p in loc[1:]) or "request"
        text = f"{where}: {e.get('msg', 'invalid')}"
        if e.get("type") in BOUND_ERRORS and (valid := _valid_range(request, loc)):
            text += f" ({valid})"
        parts.append(text)
    return "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return _unprocessable(errors, _validation_message(request, errors))

    @app.exception_handler(InvalidRequestError)
    async def _invalid(request: Request, exc: InvalidRequestError) -> JSONResponse:
        errors = [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]
        return _unprocessable(errors, f"{exc.field}: {exc.message}")

    @app.exception_handler(UploadError)
    async def _upload(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": exc.message})

    @app.exception_handler(UserError)
    async def _user(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})


async def _read_upload_body(request: Request) -> bytes:
    """The raw request body, refused with 413 beyond MAX_UPLOAD_BYTES (an oversized body is
    drained first, so that the browser sees the answer rather than a reset connection)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_UPLOAD_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(413, too_large_message(size))
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# The app


def create_app(explorer: Explorer) -> FastAPI:
    """The FastAPI app over `explorer` (its networks, latents and projection jobs)."""
    from stylegen.version import __version__

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await run_in_threadpool(explorer.shutdown)

    app = FastAPI(
        title="stylegen explorer",
        version=__version__,
        description="Generate, mix, interpolate, edit and project with StyleGAN networks; "
        "translate with CycleGAN networks. The page at / uses this API.",
        lifespan=lifespan,
    )
    app.state.explorer = explorer
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def network(nid: str) -> ServedNetwork:
        try:
            return explorer.network(nid)
        except KeyError:
            known = ", ".join(explorer.networks)
            raise HTTPException(404, f"network {nid!r} is not served; served: {known}") from None

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/networks", response_model=list[NetworkInfo], tags=["networks"])
    def list_networks() -> list[dict[str, Any]]:
        """The served networks, in the order given to `stylegen serve`."""
        return [n.info() for n in explorer.networks.values()]

    @app.get(
        "/api/networks/{network_id}",
        response_model=NetworkInfo,
        responses=_errors(404),
        tags=["networks"],
    )
    def get_network(network_id: str) -> dict[str, Any]:
        return network(network_id).info()

    @app.post(
        "/api/networks/{network_id}/image",
        response_class=Response,
        responses={**_binary("image/png", "the image (PNG)"), **_errors(400, 404)},
        tags=["stylegan"],
    )
    def image(network_id: str, request: RenderRequest) -> Response:
        """Render one image (the same pixels as `stylegen generate` for a seed and psi)."""
        net = network(network_id)
        t0 = time.perf_counter()
        img, _ = net.render(request.spec(), explorer.latent(request.latent))
        data = png_bytes(img)
        ms = (time.perf_counter() - t0) * 1000
        return Response(
            data,
            media_type="image/png",
            headers={"Cache-Control": "no-store", "X-Render-Ms": f"{ms:.1f}"},
        )

    @app.post(
        "/api/networks/{network_id}/latent",
        response_class=Response,
        responses={
            **_binary("application/octet-stream", "ws file (safetensors)"),
            **_errors(400, 404),
        },
        tags=["stylegan"],
    )
    def latent(network_id: str, request: RenderRequest) -> Response:
        """The request's ws as a ws file: `stylegen generate --ws FILE` renders it."""
        net = network(network_id)
        data = explorer.ws_file(net, request.spec())
        name = request.latent or f"seed{request.seed:04d}"
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}.ws.safetensors"'},
        )

    @app.get(
        "/api/networks/{network_id}/directions/{method}",
        response_model=DirectionsInfo,
        responses=_errors(400, 404),
        tags=["stylegan"],
    )
    def directions(network_id: str, method: Literal["sefa", "ganspace", "class"]) -> dict[str, Any]:
        """SeFa, GANSpace or class directions in W (computed on first use, then cached)."""
        net = network(network_id)
        t0 = time.perf_counter()
        cached = net.has_directions(method)
        d = net.directions(method)
        return {
            "method": d.method,
            "count": len(d.vectors),
            "labels": list(d.labels),
            "values": [float(v) for v in d.values],
            "layers": list(d.layers),
            "seconds": round(time.perf_counter() - t0, 3),
            "cached": cached,
        }

    @app.post(
        "/api/networks/{network_id}/projections",
        status_code=202,
        response_model=JobStatus,
        responses=_errors(400, 404, 413, 415, 429),
        openapi_extra=IMAGE_BODY,
        tags=["stylegan"],
    )
    async def start_projection(
        network_id: str,
        request: Request,
        steps: int = Query(
            300, ge=1, le=explorer.max_project_steps, description="optimisation steps"
        ),
        class_idx: int | None = Query(None, description="class of a conditional network"),
        space: Literal["w", "w+"] = "w",
    ) -> dict[str, Any]:
        """Project the uploaded image (the body) in the background; poll the job it returns."""
        net = network(network_id)
        net.require("stylegan")
        data = await _read_upload_body(request)
        picture = await run_in_threadpool(read_upload, data)
        job = await run_in_threadpool(
            explorer.start_projection, net, picture, steps, class_idx, space
        )
        return job.status()

    def job(job_id: str):
        try:
            return explorer.job(job_id)
        except KeyError:
            raise HTTPException(404, f"projection {job_id!r} is unknown") from None

    @app.get(
        "/api/projections/{job_id}",
        response_model=JobStatus,
        responses=_errors(404),
        tags=["stylegan"],
    )
    def get_projection(job_id: str) -> dict[str, Any]:
        return job(job_id).status()

    @app.delete(
        "/api/projections/{job_id}",
        response_model=JobStatus,
        responses=_errors(404),
        tags=["stylegan"],
    )
    def cancel_projection(job_id: str) -> dict[str, Any]:
        job(job_id)
        return explorer.cancel(job_id).status()

    @app.post(
        "/api/networks/{network_id}/translate",
        response_class=Response,
        responses={**_binary("image/png", "the translation (PNG)"), **_errors(400, 404, 413, 415)},
        openapi_extra=IMAGE_BODY,
        tags=["cyclegan"],
    )
    async def translate(
        network_id: str, request: Request, direction: Literal["a2b", "b2a"] = "a2b"
    ) -> Response:
        """CycleGAN: translate the uploaded image (the body), converted to the network's
        channels and size (centre crop, Lanczos resize)."""
        net = network(network_id)
        net.require("cyclegan")
        data = await _read_upload_body(request)
        picture = await run_in_threadpool(read_upload, data)
        out, notes = await run_in_threadpool(net.translate, picture, direction)
        return Response(
            png_bytes(out),
            media_type="image/png",
            headers={"Cache-Control": "no-store", "X-Input-Notes": "; ".join(notes)[:500]},
        )

    return app
