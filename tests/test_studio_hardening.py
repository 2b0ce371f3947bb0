"""The studio against odd and hostile input (issue 15): overflowing losses, stored job files of
any shape, huge sweeps, deep nesting, odd numbers. Never a 5xx, never non-standard JSON, and a
refusal names its field.

Jobs run only where a test needs a real overflow; elsewhere the queue's worker is never started
(a TestClient outside `with` runs no lifespan), so accepted jobs stay queued.
"""

import json
import logging
import math
import threading
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

import stylejax  # noqa: E402
from stylejax.studio import Settings, create_app  # noqa: E402
from stylejax.studio.options import MAX_MEMBERS  # noqa: E402
from tests.studio_support import GatedStylizer, job_files, png_bytes, warm_stylizer  # noqa: E402
from tests.test_finite_json import strict_json  # noqa: E402
from tests.test_studio_api import client_for, submit  # noqa: E402

JOB_ID = "0123456789abcdef"


class Idle:
    """A stylizer that fails the test if a job runs."""

    def stylize(self, *args, **kwargs):
        raise AssertionError("no job should run in this test")


def paused_client(workdir, **settings) -> TestClient:
    """A client whose app never starts its worker: accepted jobs stay queued."""
    settings = {"queue_size": 100_000} | settings
    app = create_app(Settings(workdir=workdir, **settings), Idle())
    return TestClient(app, raise_server_exceptions=False)


def post_options(client: TestClient, text: str):
    files = job_files(png_bytes(1), [png_bytes(2)]) + [("options", (None, text))]
    return client.post("/api/jobs", files=files)


def strict_events(client: TestClient, job_id: str) -> list[tuple[str, dict]]:
    """Every event of a job's stream until `end`, each parsed as strict JSON."""
    seen, buffer = [], ""
    with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
        for text in response.iter_text():
            buffer += text
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if "data" in fields:
                    seen.append((fields.get("event", "message"), strict_json(fields["data"])))
                    if seen[-1][0] == "end":
                        return seen
    return seen


def assert_listed(client: TestClient, ids: list[str]) -> list[dict]:
    response = client.get("/api/jobs")
    assert response.status_code == 200, response.text
    jobs = strict_json(response.text)["jobs"]
    assert sorted(j["id"] for j in jobs) == sorted(ids)
    for job_id in ids:
        one = client.get(f"/api/jobs/{job_id}")
        assert one.status_code == 200 and strict_json(one.text)["id"] == job_id
    return jobs


# --- 1. non-finite numbers never reach JSON ----------------------------------------------------


# 3e38, about the largest float32, is accepted; times the content loss of random features the
# total overflows to inf at the first evaluation. 1e39 itself is refused (see below).
def test_an_overflowing_loss_fails_the_job_and_all_json_stays_json(tmp_path):
    options = {"size": 32, "evaluations": 4, "content_weight": 3e38, "init": "random"}
    options |= {"style_layers": ["relu1_1"], "content_layer": "relu1_1"}  # quick to compile
    with client_for(tmp_path, warm_stylizer()) as client:
        created = submit(client, options)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        final = strict_events(client, job_id)[-1][1]
        assert final["status"] == "failed"
        assert "overflowed" in final["error"] and "style_weight" in final["error"]
        assert "\n" not in final["error"] and final["loss"]["total"] is None
        assert assert_listed(client, [job_id])[0]["status"] == "failed"
        log = client.get(f"/api/jobs/{job_id}/log.json")
        assert log.status_code == 200 and strict_json(log.text)["histories"][0][0]["total"] is None
    folder = tmp_path / "jobs" / job_id
    for name in ("job.json", "log.json"):
        strict_json((folder / name).read_text())
    # A restart lists it as it was.
    with client_for(tmp_path, Idle()) as client:
        assert assert_listed(client, [job_id])[0]["error"] == final["error"]
        assert [name for name, _ in strict_events(client, job_id)] == ["end"]


class NonFiniteSweep:
    """Member 1 of a 2-member sweep reports NaN and inf losses at its first update."""

    def __init__(self):
        self.stopped = None

    def stylize(self, content, style, callback=None, **options):
        from PIL import Image

        image = Image.new("RGB", (8, 8))
        losses = [
            {"total": 1.0, "content": 1.0, "style": 0.0, "tv": 0.0},
            {"total": math.nan, "content": 1.0, "style": -math.inf, "tv": 0.0},
        ]
        records = [[loss | {"evaluations": 1, "size": [8, 8]}] for loss in losses]
        update = stylejax.Update(1, 10, 0.0, (8, 8), losses, records, [image, image])
        self.stopped = callback(update)
        return [image, image]


def test_a_non_finite_loss_in_any_member_stops_the_job_with_a_message(tmp_path):
    stylizer = NonFiniteSweep()
    with client_for(tmp_path, stylizer) as client:
        job_id = submit(client, {"seed": [1, 2]}).json()["id"]
        final = strict_events(client, job_id)[-1][1]
        assert stylizer.stopped is True  # the callback asked the run to stop
        assert final["status"] == "failed" and "sweep member 1" in final["error"]
        assert final["losses"][1]["total"] is None and final["losses"][0]["total"] == 1.0
        assert_listed(client, [job_id])


def test_a_job_json_with_infinity_from_an_older_version_is_listed(tmp_path):
    record = stored_record() | {"loss": {"total": math.inf}, "losses": [{"total": math.inf}]}
    folder = tmp_path / "jobs" / JOB_ID
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps(record))  # writes Infinity, as before
    (folder / "log.json").write_text(json.dumps({"histories": [[{"total": -math.inf}]]}))
    with client_for(tmp_path, Idle()) as client:
        (job,) = assert_listed(client, [JOB_ID])
        assert job["loss"] == {"total": None} and job["losses"] == [{"total": None}]
        assert strict_events(client, JOB_ID)[0][1]["records"] == [{"total": None}]


# --- 2. stored jobs are checked against one schema ---------------------------------------------


def stored_record(**changes) -> dict:
    """A job.json as the studio writes it, for a finished job."""
    record = {
        "id": JOB_ID,
        "status": "finished",
        "options": {"size": 32, "evaluations": 8},
        "styles": 1,
        "names": {"content": "a.png", "style": ["b.png"]},
        "members": 1,
        "created": 1.7e9,
        "started": 1.7e9,
        "finished": 1.7e9 + 5,
        "evaluations": 8,
        "budget": 8,
        "seconds": 2.5,
        "size": [26, 32],
        "losses": [{"total": 1.0, "evaluations": 8, "size": [26, 32]}],
        "loss": {"total": 1.0, "evaluations": 8, "size": [26, 32]},
        "error": None,
    }
    return record | changes


GOOD_ID = "fedcba9876543210"
BAD_RECORDS = [
    "[1, 2]",
    "null",
    "{}",
    json.dumps(stored_record(styles="abc")),
    json.dumps(stored_record(options="x")),
    json.dumps(stored_record(created="x")),
    json.dumps({"id": JOB_ID, "status": "finished", "losses": 5}),
    json.dumps(stored_record(losses=5)),
    json.dumps(stored_record(losses=[{"total": "x"}])),
    json.dumps(stored_record(losses=[{}, {}])),  # more than its one member
    json.dumps(stored_record(status="exploded")),
    json.dumps(stored_record(members=0)),
    json.dumps(stored_record(members=True)),
    json.dumps(stored_record(names=["a.png"])),
    json.dumps(stored_record(size=[26])),
    json.dumps(stored_record(error=5)),
    json.dumps(stored_record(options={"evaluations": "abc"})),
    json.dumps(stored_record(options={"no_such_option": 1})),
    json.dumps(stored_record(created=10**400)),
    json.dumps(stored_record(id=GOOD_ID)),  # not its folder's id
    "[" * 100_000 + "]" * 100_000,
]


@pytest.mark.parametrize("text", BAD_RECORDS, ids=lambda text: text[:40])
def test_a_stored_job_that_does_not_fit_the_schema_is_skipped(tmp_path, text, caplog):
    for job_id, content in ((JOB_ID, text), (GOOD_ID, json.dumps(stored_record(id=GOOD_ID)))):
        (tmp_path / "jobs" / job_id).mkdir(parents=True)
        (tmp_path / "jobs" / job_id / "job.json").write_text(content)
    with caplog.at_level(logging.WARNING, logger="stylejax.studio"):
        client = paused_client(tmp_path)
    assert assert_listed(client, [GOOD_ID])[0]["status"] == "finished"
    assert f"skipping {tmp_path / 'jobs' / JOB_ID}" in caplog.text
    assert client.get(f"/api/jobs/{JOB_ID}").status_code == 404


@pytest.mark.parametrize("text", ["[1]", '{"histories": 5}', '{"histories": [[1]]}'])
def test_a_stored_log_that_does_not_fit_gives_no_history(tmp_path, text, caplog):
    folder = tmp_path / "jobs" / JOB_ID
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps(stored_record()))
    (folder / "log.json").write_text(text)
    with caplog.at_level(logging.WARNING, logger="stylejax.studio"):
        client = paused_client(tmp_path)
    assert "ignoring its loss histories" in caplog.text
    assert_listed(client, [JOB_ID])
    with client:  # the event stream of a finished job ends at once
        assert strict_events(client, JOB_ID)[0][1]["records"] == []


# --- 3. a limit on sweep members, and parsing off the event loop -------------------------------


def test_a_huge_sweep_is_refused_quickly_naming_the_field(tmp_path):
    client = paused_client(tmp_path)
    huge = {"style_weight": [float(w) for w in range(1, 301)], "seed": list(range(300))}
    start = time.monotonic()
    response = post_options(client, json.dumps(huge))
    assert time.monotonic() - start < 2.0  # 90,000 members were once made to count them
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "style_weight" and "90000 images" in body["error"]
    assert f"{MAX_MEMBERS} per job" in body["error"]
    # The limit itself is accepted; one more member is not, whichever axis adds it.
    at_limit = {"seed": list(range(8)), "tv_weight": [0.0, 1.0] * 4 + [float(x) for x in range(8)]}
    assert len(set(at_limit["tv_weight"])) * 8 == MAX_MEMBERS
    accepted = post_options(client, json.dumps(at_limit))
    assert accepted.status_code == 201 and accepted.json()["members"] == MAX_MEMBERS
    over = {"seed": list(range(MAX_MEMBERS)), "content_weight": [1.0, 2.0]}
    assert post_options(client, json.dumps(over)).json()["field"] == "content_weight"


def test_checking_options_does_not_hold_up_other_requests(tmp_path, monkeypatch):
    checking, release = threading.Event(), threading.Event()
    check_options = stylejax.check_options

    def slow_check(**options):
        checking.set()
        release.wait(10)
        return check_options(**options)

    monkeypatch.setattr(stylejax, "check_options", slow_check)
    gated = GatedStylizer()
    with client_for(tmp_path, gated) as client:
        posted = {}
        poster = threading.Thread(
            target=lambda: posted.setdefault("response", post_options(client, '{"size": 32}'))
        )
        poster.start()
        try:
            assert checking.wait(10)
            start = time.monotonic()
            assert client.get("/api/health").json() == {"status": "ok"}
            waited = time.monotonic() - start
        finally:
            release.set()
            poster.join(10)
            gated.gate.set()
        assert waited < 1.0 and posted["response"].status_code == 201


# --- 4. odd input gives a 4xx naming its field, never a 5xx ------------------------------------


@pytest.mark.parametrize(
    "text, field",
    [
        ("[" * 100_000 + "]" * 100_000, "options"),
        ('{"size":' * 100_000 + "1" + "}" * 100_000, "options"),
        ('{"style_layers": 5}', "style_layers"),
        ('{"style_weight": [1e5, "x"]}', "style_weight"),
        ('{"style_weight": 1e400}', "style_weight"),
        ('{"style_weight": 1e39}', "style_weight"),
        ('{"seed": -1}', "seed"),
        ('{"evaluations": 2147483648}', "evaluations"),
        ('{"size": 9223372036854775807}', "size"),
        ('{"style_weight": NaN}', "style_weight"),
        ('{"content_weight": -Infinity}', "content_weight"),
        ('{"style_weight": 1' + "0" * 400 + "}", "style_weight"),
        ('{"size": 1' + "0" * 5000 + "}", "options"),
        ('{"size": 32.5}', "size"),
        ('{"size": true}', "size"),
        ('{"remat": "yes"}', "remat"),
        ('{"seed": [[1], [2]]}', "seed"),
        ('{"seed": [{"a": 1}]}', "seed"),
        ('{"style_blend": [1, "x"]}', "style_blend"),
        ('{"content_layer": ["relu1_1", "relu2_1"], "style_weight": {"a": 1}}', "style_weight"),
        ('{"init": ["content"]}', "init"),
        ('{"evaluations": [4, 8]}', "evaluations"),
        ('{"seed": []}', "seed"),
        ('{"seed": [1, null]}', "seed"),
        ('{"style_layers": [' + '"relu1_1", ' * 8000 + '"relu1_1"]}', "options"),  # 88 kB
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else value,
)
def test_odd_options_are_422_naming_the_field(tmp_path, text, field):
    response = post_options(paused_client(tmp_path), text)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field and field in body["error"]
    assert "\n" not in body["error"] and len(body["error"]) < 500
    assert not any((tmp_path / "jobs").iterdir())


@pytest.mark.parametrize(
    "member, status",
    [("²", 400), ("٣", 400), ("9" * 5000, 400), ("-1", 400), (" 1", 400), ("1.0", 400), ("1", 404)],
)
def test_odd_member_numbers_are_4xx(tmp_path, member, status):
    folder = tmp_path / "jobs" / JOB_ID
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps(stored_record()))
    client = paused_client(tmp_path)
    for path in ("image", "result.png", "result.gif"):
        response = client.get(f"/api/jobs/{JOB_ID}/{path}", params={"member": member})
        assert response.status_code == status, response.text
        assert len(response.json()["error"]) < 200


def test_a_non_finite_upload_limit_is_refused(tmp_path):
    for value in (math.inf, math.nan, -1.0, 0.0, 1e308):
        with pytest.raises(ValueError, match="max_upload_mb"):
            Settings(workdir=tmp_path, max_upload_mb=value)
