"""Property-based tests (Hypothesis, a fixed number of examples) of the studio's two readers of
outside data: the `options` of POST /api/jobs, and the job.json and log.json it lists at start.

Random JSON values of every type, depth and magnitude (inf, NaN, integers of hundreds of digits,
nesting thousands deep) must never give a 5xx; a refusal is a JSON error naming its field, and
the job list stays readable, as standard JSON, afterwards. No job runs: the worker is never
started, so accepted jobs stay queued.
"""

import dataclasses
import json
import math
import shutil
import types
import typing

import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
pytest.importorskip("httpx2")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import stylejax  # noqa: E402
from stylejax.config import OPTIONS, SWEEPABLE, members  # noqa: E402
from stylejax.studio.options import MAX_MEMBERS  # noqa: E402
from tests.studio_support import job_files, png_bytes  # noqa: E402
from tests.test_finite_json import strict_json  # noqa: E402
from tests.test_studio_hardening import JOB_ID, paused_client, stored_record  # noqa: E402

# Fixed and reproducible: the same examples on every run, nothing saved between runs.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(10**400), max_value=10**400),  # past float64
    st.floats(allow_nan=True, allow_infinity=True),  # written as NaN and Infinity
    st.text(max_size=12),
    st.sampled_from(["relu1_1", "relu9_9", "avg", "content", "random", "lbfgs", "histogram"]),
)
# Values near valid ones, so that many examples reach the library's own checks.
PLAUSIBLE = st.sampled_from(
    [0, 1, 2, 4, 32, 64, -1, 2**31, 2**63, 0.5, 1e-9, 1e5, 1e39, float("inf"), True, None]
    + ["relu1_1", "relu4_1", "max", "avg", "adam", "lbfgs", "luminance", "bfloat16", "equal"]
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
NAMES = st.one_of(
    st.sampled_from(OPTIONS),
    st.sampled_from(["max_pixels", "weights", "output", "content", ""]),
    st.text(max_size=10),
)


class Nested:
    """JSON nested `depth` deep, made when the test runs: Hypothesis shows this short repr
    instead of a megabyte of brackets."""

    def __init__(self, depth: int, kind: str):
        self.depth, self.kind = depth, kind

    def __repr__(self) -> str:
        return f"Nested({self.depth}, {self.kind!r})"

    def text(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "]" * self.depth
        return '{"a":' * self.depth + "1" + "}" * self.depth


OPTIONS_TEXT = st.one_of(
    st.dictionaries(NAMES, VALUES, max_size=4).map(json.dumps),
    st.dictionaries(st.sampled_from(OPTIONS), VALUES, min_size=1, max_size=3).map(json.dumps),
    st.dictionaries(
        st.sampled_from(OPTIONS), PLAUSIBLE | st.lists(PLAUSIBLE, max_size=12), max_size=4
    ).map(json.dumps),
    st.dictionaries(  # sweeps
        st.sampled_from(SWEEPABLE), st.lists(PLAUSIBLE, min_size=1, max_size=9), max_size=3
    ).map(json.dumps),
    VALUES.map(json.dumps),
    st.text(max_size=40),
    st.builds(Nested, st.integers(1, 200_000), st.sampled_from(["list", "object"])),
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def client(workdir):
    return paused_client(workdir / "options")


@pytest.fixture(scope="module")
def uploads():
    return job_files(png_bytes(1, size=(8, 8)), [png_bytes(2, size=(8, 8))])


@FUZZ
@given(text=OPTIONS_TEXT)
def test_any_options_give_201_or_an_error_naming_the_field(client, uploads, text):
    if isinstance(text, Nested):
        text = text.text()
    response = client.post("/api/jobs", files=uploads + [("options", (None, text))])
    event(f"HTTP {response.status_code}")  # pytest --hypothesis-show-statistics
    assert response.status_code in (201, 422), response.text
    body = strict_json(response.text)
    if response.status_code == 422:
        try:
            sent = json.loads(text)
        except (ValueError, RecursionError):
            sent = None
        names = set(sent) if isinstance(sent, dict) else set()
        assert body["field"] in names | {"options"}
        assert body["field"] in body["error"] and "\n" not in body["error"]
        assert len(body["error"]) < 600
    listed = client.get("/api/jobs")
    assert listed.status_code == 200
    if response.status_code == 201:
        jobs = strict_json(listed.text)["jobs"]
        assert jobs[0]["id"] == body["id"] and jobs[0]["members"] == body["members"]
        # Every member the job will run has values of its Config fields' types.
        config, axes = stylejax.check_options(**(json.loads(text) if text.strip() else {}))
        grid = members(config, axes)
        assert len(grid) == body["members"] <= MAX_MEMBERS
        hints = typing.get_type_hints(stylejax.Config)
        for member in grid:
            for field in dataclasses.fields(member):
                value = getattr(member, field.name)
                assert of_type(value, hints[field.name]), (field.name, value)


def of_type(value, kind) -> bool:
    """Whether `value` is of the annotation `kind`, as plainly as it reads; a float field takes
    a finite int or float."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType):
        return any(of_type(value, option) for option in args)
    if kind is type(None):
        return value is None
    if typing.get_origin(kind) is tuple:
        return isinstance(value, tuple) and all(of_type(v, args[0]) for v in value)
    if kind is float:
        return type(value) in (int, float) and math.isfinite(value)
    return type(value) is kind


RECORD_FIELDS = list(stored_record())
STORED = st.one_of(
    VALUES,  # anything at all
    st.builds(  # a real record with one field changed or removed
        lambda name, value, drop: (
            {k: v for k, v in stored_record(**{name: value}).items()}
            if not drop
            else {k: v for k, v in stored_record().items() if k != name}
        ),
        st.sampled_from(RECORD_FIELDS),
        VALUES | PLAUSIBLE,
        st.booleans(),
    ),
)


@FUZZ
@given(record=STORED, log=st.one_of(st.none(), VALUES))
def test_any_stored_job_lets_the_studio_start_and_list(workdir, record, log):
    root = workdir / "stored"
    shutil.rmtree(root, ignore_errors=True)
    folder = root / "jobs" / JOB_ID
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps(record))
    if log is not None:
        (folder / "log.json").write_text(json.dumps({"histories": log}))
    client = paused_client(root)
    listed = client.get("/api/jobs")
    assert listed.status_code == 200
    jobs = strict_json(listed.text)["jobs"]
    assert [job["id"] for job in jobs] in ([], [JOB_ID])
    event("listed" if jobs else "skipped")
    one = client.get(f"/api/jobs/{JOB_ID}")
    assert one.status_code == (200 if jobs else 404)
    strict_json(one.text)
    if jobs:  # a job listed has every field of the schema's type
        assert isinstance(jobs[0]["options"], dict) and isinstance(jobs[0]["members"], int)
        for member in ("0", "1", "x"):
            image = client.get(f"/api/jobs/{JOB_ID}/image", params={"member": member})
            assert image.status_code in (200, 400, 404)
