"""The studio's Starlette app: the HTTP API, the page, and the guard in front of both.

Routes are a plain list; `create_app(settings, stylizer)` builds a fresh app (tests get their
own). Every user error is a 4xx with a JSON body {"error": "..."} (plus "field" for options).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import io
import math
import re
import time
from http.cookies import SimpleCookie
from pathlib import Path

from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import stylejax
from stylejax import config, samples
from stylejax.engine import regions
from stylejax.files import finite_json, images
from stylejax.studio.jobs import Job, JobQueue, QueueFull
from stylejax.studio.options import OptionsError, parse_options
from stylejax.studio.store import LOG_FILE, JobStore, preview_name, result_name, valid_id

STATIC = Path(__file__).resolve().parent / "static"
SAMPLES = {"content.jpg": samples.CONTENT, "style.jpg": samples.STYLE}
TOKEN_COOKIE = "stylejax_token"
# A sweep member's index in a query: ASCII digits only (str.isdigit also takes "²", which int()
# refuses), and few enough that int() never meets Python's digit limit.
MEMBER_PATTERN = re.compile(r"[0-9]{1,6}", re.ASCII)


@dataclasses.dataclass(frozen=True)
class Settings:
    workdir: Path  # jobs' files go to WORKDIR/jobs/<id>/
    token: str | None = None  # when set, every request must carry it
    max_upload_mb: float = 50.0  # bound on a job's whole upload (413 past it)
    queue_size: int = 16  # jobs waiting at most (429 past it)
    max_pixels: int = images.DEFAULT_MAX_PIXELS  # larger images are refused before decoding
    max_styles: int = 8  # style images per job at most
    allowed_hosts: tuple[str, ...] | None = None  # Host names accepted; None: any
    poll_seconds: float = 0.1  # how often an event stream looks for a newer state
    ping_seconds: float = 15.0  # keep-alive comments on idle event streams
    preset: str | None = None  # what jobs without a `preset` option start from (config.PRESETS)

    def __post_init__(self):
        if self.preset is not None:
            config.preset_fields(self.preset)  # ConfigError (a ValueError) on a bad name
        # Finite in bytes too: 1e308 MB is a finite float, but not once multiplied by 2**20.
        if not (math.isfinite(self.max_upload_mb * 2**20) and self.max_upload_mb > 0):
            raise ValueError(f"max_upload_mb must be a finite number > 0, got {self.max_upload_mb}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


class ApiError(Exception):
    """A refused request: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class FiniteJSONResponse(JSONResponse):
    """A JSON body that is standard JSON: non-finite numbers are null (files.finite_json)."""

    def render(self, content) -> bytes:
        return finite_json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(status: int, message: str, **extra) -> FiniteJSONResponse:
    return FiniteJSONResponse({"error": message} | extra, status_code=status)


# --- request parsing ---------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


def _limited(receive, limit: int):
    """`receive` that raises _TooLarge once the body passes `limit` bytes."""
    total = 0

    async def wrapped():
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise _TooLarge
        return message

    return wrapped


def check_image(path: Path, label: str, max_pixels: int) -> None:
    """Decodes the upload with the CLI's guarded loader; ApiError 415/400 naming the problem."""
    try:
        images.decode(path, max_pixels=max_pixels)
    except images.ImageError as e:
        message = str(e).replace(str(path), label)
        # images.decode says "not an image file" when Pillow recognises no format at all.
        status = 415 if "not an image file" in message else 400
        raise ApiError(status, message, field=label.split(" ")[0]) from None


def check_regions(mask: Path | None, content: Path, styles: int, options: dict) -> None:
    """The mask against the styles and the mask options, as the run will check them (with the
    content at its own size; the run checks again at the result's): ApiError 422 naming the
    field. Without a mask, only that no mask option is given."""
    with Image.open(content) as image:
        shape = (image.height, image.width)
    try:
        regions.read(
            mask,
            None,
            style_count=styles,
            colors=options.get("mask_colors", ()),
            keep_content=options.get("keep_content"),
            blur=0.0,
            erode=False,
            content_shape=shape,
            style_shapes=[],
        )
    except regions.RegionsError as e:
        raise ApiError(422, f"{e.field}: {e.problem}", field=e.field) from None
    if mask is not None and options.get("style_blend"):
        raise ApiError(
            422,
            "style_blend: cannot be used with a mask, where each region takes one style image",
            field="style_blend",
        )


async def read_form(request: Request, settings: Settings):
    length = request.headers.get("content-length")
    limit = settings.max_upload_bytes
    # ASCII digits only (str.isdigit also takes "²"); a malformed header is ignored, and the
    # body is counted as it arrives regardless.
    if length is not None and re.fullmatch(r"[0-9]{1,18}", length) and int(length) > limit:
        raise ApiError(413, f"the upload is {int(length)} bytes, over the {_mb(settings)} limit")
    limited = Request(request.scope, _limited(request.receive, limit))
    try:
        # A content file, the styles and a mask.
        return await limited.form(max_files=2 + settings.max_styles, max_fields=8)
    except _TooLarge:
        raise ApiError(413, f"the upload is over the {_mb(settings)} limit") from None
    except HTTPException as e:
        raise ApiError(400, f"not a valid multipart form: {e.detail}") from None


def _mb(settings: Settings) -> str:
    return f"{settings.max_upload_mb:g} MB (--max-upload-mb)"


def _uploads(form, name: str) -> list[UploadFile]:
    found = form.getlist(name)
    if any(not isinstance(item, UploadFile) for item in found):
        raise ApiError(400, f"{name} must be a file upload", field=name)
    return found


def _clean_name(upload: UploadFile) -> str:
    """The uploaded file name, kept as data for display only (never as a path)."""
    return "".join(c for c in (upload.filename or "")[:120] if c.isprintable())


# --- handlers ----------------------------------------------------------------------------------


def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


def _job(request: Request) -> Job:
    job_id = request.path_params["job_id"]
    job = _queue(request).get(job_id) if valid_id(job_id) else None
    if job is None:
        raise ApiError(404, "no such job")
    return job


def _member(request: Request, job: Job) -> int:
    text = request.query_params.get("member", "0")
    if MEMBER_PATTERN.fullmatch(text) is None:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise ApiError(
            400,
            f"member must be a whole number from 0 to {job.members - 1}, got {shown!r}",
            field="member",
        )
    member = int(text)
    if member >= job.members:
        raise ApiError(404, f"member {member} does not exist: this job has {job.members} images")
    return member


async def create_job(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    queue = _queue(request)
    form = await read_form(request, settings)
    try:
        options_field = form.get("options")
        if isinstance(options_field, UploadFile):
            options_field = await options_field.read()
        # In a worker thread: parsing and checking must never hold up other requests.
        try:
            options, members = await run_in_threadpool(
                parse_options, options_field, settings.preset
            )
        except OptionsError as e:
            raise ApiError(422, str(e), field=e.field) from None
        contents, styles = _uploads(form, "content"), _uploads(form, "style")
        if len(contents) != 1:
            raise ApiError(400, "send exactly one content file", field="content")
        if not styles:
            raise ApiError(400, "send at least one style file", field="style")
        if len(styles) > settings.max_styles:
            raise ApiError(400, f"at most {settings.max_styles} style files", field="style")
        masks = _uploads(form, "mask")
        if len(masks) > 1:
            raise ApiError(400, "send at most one mask file", field="mask")
        job_id = queue.store.new_id()
        try:
            uploads = [("content", contents[0], "content")]
            uploads += [(f"style-{i}", s, f"style {i + 1}") for i, s in enumerate(styles)]
            uploads += [("mask", m, "mask") for m in masks]
            for name, upload, label in uploads:
                path = queue.store.write_bytes(job_id, name, await upload.read())
                await run_in_threadpool(check_image, path, label, settings.max_pixels)
            mask = queue.store.path(job_id, "mask") if masks else None
            await run_in_threadpool(
                check_regions, mask, queue.store.path(job_id, "content"), len(styles), options
            )
            names = {"content": _clean_name(contents[0]), "style": [_clean_name(s) for s in styles]}
            job = Job(
                id=job_id,
                options=options,
                styles=len(styles),
                members=members,
                names=names | ({"mask": _clean_name(masks[0])} if masks else {}),
                created=time.time(),
                mask=bool(masks),
            )
            queue.submit(job)
        except QueueFull as e:
            queue.store.discard(job_id)
            raise ApiError(429, str(e)) from None
        except BaseException:
            queue.store.discard(job_id)
            raise
    finally:
        await form.close()
    return FiniteJSONResponse(
        {"id": job.id, "members": members},
        status_code=201,
        headers={"Location": f"/api/jobs/{job.id}"},
    )


async def list_jobs(request: Request) -> Response:
    return FiniteJSONResponse({"jobs": _queue(request).list()})


async def get_job(request: Request) -> Response:
    job = _job(request)
    return FiniteJSONResponse(_queue(request).summary(job))


async def delete_job(request: Request) -> Response:
    job = _job(request)
    _queue(request).cancel(job.id)
    return FiniteJSONResponse(_queue(request).summary(job))


def _encode_png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


NO_STORE = {"Cache-Control": "no-store"}


async def job_image(request: Request) -> Response:
    """The latest image: the preview while running, the result once done."""
    queue, job = _queue(request), _job(request)
    member = _member(request, job)
    with queue.lock:
        version = job.version
        image = job.images[member] if member < len(job.images) else None
        cached = job.png_cache.get(member)
    if image is not None:
        data = cached or await run_in_threadpool(_encode_png, image)
        with queue.lock:
            if job.version == version:
                job.png_cache[member] = data
        headers = NO_STORE | {"X-Job-Version": str(version)}
        return Response(data, media_type="image/png", headers=headers)
    for name in (result_name(member, "png"), preview_name(member)):
        path = queue.store.path(job.id, name)
        if path.is_file():
            return FileResponse(path, media_type="image/png", headers=NO_STORE)
    raise ApiError(404, f"no image yet: the job is {job.status}")


def _download(kind: str):
    async def handler(request: Request) -> Response:
        queue, job = _queue(request), _job(request)
        member = _member(request, job) if kind != "log" else 0
        if kind == "log":
            path, media = queue.store.path(job.id, LOG_FILE), "application/json"
        else:
            path = queue.store.path(job.id, result_name(member, kind))
            media = f"image/{kind}"
        if not job.done or not path.is_file():
            raise ApiError(404, f"no {kind} to download: the job is {job.status}")
        suffix = "json" if kind == "log" else kind
        member_part = f"-{member}" if job.members > 1 else ""
        name = f"stylejax-{job.id}{member_part}.{suffix}"
        return FileResponse(path, media_type=media, filename=name, headers=NO_STORE)

    return handler


async def job_events(request: Request) -> Response:
    """Server-sent events: `progress` with the job's latest state, then one `end`.

    Each subscriber reads the job's current state when it is ready to send: a slow client
    skips intermediate states instead of queueing them, and never holds up the optimization.
    Loss records are sent once each (`records` are the new ones, from index `records_from`).
    """
    queue, job = _queue(request), _job(request)
    settings: Settings = request.app.state.settings

    async def stream():
        sent_version, sent_records, last_sent = -1, 0, time.monotonic()
        while True:
            with queue.lock:
                changed = job.version != sent_version
                if changed:
                    sent_version = job.version
                    state = queue.summary_locked(job)
                    history = job.histories[0] if job.histories else []
                    state |= {"records": history[sent_records:], "records_from": sent_records}
                    sent_records = len(history)
                    done = job.done
            if changed:
                event = "end" if done else "progress"
                yield f"event: {event}\ndata: {finite_json.dumps(state)}\n\n"
                last_sent = time.monotonic()
                if done:
                    return
            elif time.monotonic() - last_sent > settings.ping_seconds:
                yield ": ping\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(settings.poll_seconds)

    headers = NO_STORE | {"X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


async def health(request: Request) -> Response:
    return FiniteJSONResponse({"status": "ok"})


# What the page's controls show before anyone touches them.
PAGE_DEFAULTS = (
    "size",
    "evaluations",
    "style_weight",
    "content_layer",
    "init",
    "seed",
    "save_every",
    "preserve_colors",
    "min_size",
)


async def defaults(request: Request) -> Response:
    """The options a job gets when it sets none (`Config`'s defaults, or the server's
    `--preset`), for the page's controls, and the automatic pyramid's rule (min_size null:
    `pyramid.from` pixels and more start at `pyramid.start`)."""
    preset = request.app.state.settings.preset
    base, _ = config.from_options({} if preset is None else {config.PRESET_OPTION: preset})
    threshold, start = config.AUTO_PYRAMID
    return FiniteJSONResponse(
        {
            "preset": preset,
            "options": {name: getattr(base, name) for name in PAGE_DEFAULTS},
            "pyramid": {"from": threshold, "start": start},
        }
    )


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=NO_STORE)


async def sample(request: Request) -> Response:
    path = SAMPLES.get(request.path_params["name"])
    if path is None:
        raise ApiError(404, "no such sample")
    return FileResponse(path, media_type="image/jpeg")


ROUTES = [
    Route("/", index),
    Route("/api/health", health),
    Route("/api/defaults", defaults),
    Route("/api/jobs", list_jobs, methods=["GET"]),
    Route("/api/jobs", create_job, methods=["POST"]),
    Route("/api/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/api/jobs/{job_id}", delete_job, methods=["DELETE"]),
    Route("/api/jobs/{job_id}/image", job_image),
    Route("/api/jobs/{job_id}/events", job_events),
    Route("/api/jobs/{job_id}/result.png", _download("png")),
    Route("/api/jobs/{job_id}/result.gif", _download("gif")),
    Route("/api/jobs/{job_id}/log.json", _download("log")),
    Route("/samples/{name}", sample),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


# --- the guard: Host, Origin and token checks, in the manner of Jupyter server -----------------


class Guard:
    """ASGI middleware that refuses requests before they reach a route.

    - Host: with `allowed_hosts` (localhost names when bound to localhost), any other Host
      header is refused, so a DNS-rebinding page cannot talk to the studio. (Starlette's
      TrustedHostMiddleware does the same test but answers in plain text, and every refusal of
      this API is a JSON error; the test is these few lines, in one place with the others.)
    - Origin: a POST or DELETE whose Origin differs from its Host is refused (another web site
      must not start or cancel jobs through the user's browser).
    - Token: with a token, every request carries it as `Authorization: Bearer TOKEN` (or
      Jupyter's `token TOKEN`), a `token` query parameter, or the cookie that a request with the
      query parameter receives, so the page's <img> and EventSource requests need nothing extra.
    """

    def __init__(self, app, settings: Settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        refusal, set_cookie = self.check(request)
        if refusal is not None:
            return await refusal(scope, receive, send)
        if not set_cookie:
            return await self.app(scope, receive, send)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = SimpleCookie()
                cookie[TOKEN_COOKIE] = self.settings.token
                cookie[TOKEN_COOKIE].update({"httponly": True, "samesite": "Strict", "path": "/"})
                header = cookie.output(header="").strip().encode("latin-1")
                message["headers"] = [*message.get("headers", []), (b"set-cookie", header)]
            await send(message)

        return await self.app(scope, receive, send_with_cookie)

    def check(self, request: Request) -> tuple[Response | None, bool]:
        host = request.headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        hostname = hostname.strip("[]").lower()
        allowed = self.settings.allowed_hosts
        if allowed is not None and hostname not in allowed:
            return error_response(403, f"Host {host!r} is not allowed"), False
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin is not None:
            origin_host = origin.split("://", 1)[-1]
            if origin_host.lower() != host.lower():
                return error_response(403, f"cross-origin {request.method} refused"), False
        token = self.settings.token
        if token is None:
            return None, False
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        candidates = [
            (value.strip() if scheme.lower() in ("bearer", "token") else None, False),
            (request.query_params.get("token"), True),
            (request.cookies.get(TOKEN_COOKIE), False),
        ]
        for supplied, from_query in candidates:
            if supplied and hmac.compare_digest(supplied.encode(), token.encode()):
                return None, from_query
        return (
            error_response(
                401,
                "this studio needs its token: open the URL that stylejax-studio printed, or "
                "send 'Authorization: Bearer TOKEN'",
            ),
            False,
        )


# --- the app -----------------------------------------------------------------------------------


async def _api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, **exc.extra)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return error_response(exc.status_code, str(exc.detail))


def create_app(settings: Settings, stylizer=None) -> Starlette:
    """A fresh studio app with its own job queue; `stylizer` defaults to a new Stylizer."""
    if stylizer is None:
        stylizer = stylejax.Stylizer()
    queue = JobQueue(
        stylizer,
        JobStore(settings.workdir),
        max_queued=settings.queue_size,
        max_pixels=settings.max_pixels,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        queue.start()
        try:
            yield
        finally:
            # Shutdown (SIGTERM, Ctrl-C): the running job stops and saves its latest image;
            # queued jobs are marked cancelled on disk.
            await run_in_threadpool(queue.shutdown)

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.add_middleware(Guard, settings=settings)
    app.state.settings = settings
    app.state.queue = queue
    return app
