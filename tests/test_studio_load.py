"""Load on the real server: 8 clients submit 2 tiny jobs each at the same moment to
`python -m stylejax.serve` on localhost; all 16 must finish with their own result.

Every job has its own content image and seed; each result is compared with the library's
result for the same inputs, so a lost, swapped or mixed-up job fails the test.

Run as a script for the figures in BENCHMARKS.md ("Studio"):
    PYTHONPATH=. python tests/test_studio_load.py
"""

from __future__ import annotations

import datetime
import io
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.studio_support import (
    ServerProcess,
    free_port,
    job_files,
    parse_events,
    png_bytes,
    random_weights_file,
    warm_stylizer,
)

httpx = pytest.importorskip("httpx2")

CLIENTS, JOBS_PER_CLIENT = 8, 2
# Gram: the default Wasserstein loss's square roots of 512-channel covariances cost the same at
# any picture size, and this test is about 16 concurrent jobs, not the loss.
OPTIONS = {"size": 32, "evaluations": 8, "save_every": 2, "style_loss": "gram"}
STYLE_SEED = 7


def job_inputs(client: int, k: int) -> tuple[bytes, dict]:
    """Job k of client `client`: its own content image and its own seed."""
    number = client * JOBS_PER_CLIENT + k
    return png_bytes(100 + number), OPTIONS | {"seed": number}


def client_run(url: str, client: int, barrier: threading.Barrier, out: dict) -> None:
    """Submits this client's jobs together, then follows each one's events to its end."""
    with httpx.Client(base_url=url, timeout=600) as http:
        barrier.wait()
        submitted = []
        for k in range(JOBS_PER_CLIENT):
            content, options = job_inputs(client, k)
            files = job_files(content, [png_bytes(STYLE_SEED)], options)
            start = time.monotonic()
            response = http.post("/api/jobs", files=files)
            assert response.status_code == 201, response.text
            submitted.append((response.json()["id"], k, options, start))
        for job_id, k, options, start in submitted:
            with http.stream("GET", f"/api/jobs/{job_id}/events") as stream:
                body = "".join(stream.iter_text())
            final = parse_events(body)[-1][1]
            out[(client, k)] = {
                "id": job_id,
                "sent": options,
                "final": final,
                "seconds": time.monotonic() - start,
                "png": http.get(f"/api/jobs/{job_id}/result.png").content,
                "log": http.get(f"/api/jobs/{job_id}/log.json").json(),
            }


def run_load(url: str) -> tuple[dict, float]:
    """All clients at once; (results by (client, k), wall seconds)."""
    barrier = threading.Barrier(CLIENTS)
    out, errors = {}, []

    def run(client):
        try:
            client_run(url, client, barrier, out)
        except BaseException as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(CLIENTS)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return out, time.monotonic() - start


def expected_results() -> dict:
    """The library's result for every job's inputs, computed in this process."""
    stylizer = warm_stylizer()
    style = Image.open(io.BytesIO(png_bytes(STYLE_SEED)))
    expected = {}
    for client in range(CLIENTS):
        for k in range(JOBS_PER_CLIENT):
            content, options = job_inputs(client, k)
            image = stylizer.stylize(Image.open(io.BytesIO(content)), [style], **options)
            expected[(client, k)] = np.asarray(image)
    return expected


def check(results: dict, expected: dict) -> None:
    assert sorted(results) == sorted(expected)
    assert len({r["id"] for r in results.values()}) == CLIENTS * JOBS_PER_CLIENT
    for key, result in results.items():
        assert result["final"]["status"] == "finished", (key, result["final"])
        assert result["final"]["evaluations"] == OPTIONS["evaluations"]
        assert result["log"]["options"] == result["sent"]
        image = np.asarray(Image.open(io.BytesIO(result["png"])).convert("RGB"))
        np.testing.assert_allclose(image.astype(int), expected[key].astype(int), atol=1)
    images = [np.asarray(Image.open(io.BytesIO(r["png"]))) for r in results.values()]
    distinct = {image.tobytes() for image in images}
    assert len(distinct) == len(images)  # the check above could tell every job apart


@pytest.mark.slow
def test_sixteen_jobs_from_eight_clients_at_once_then_sigterm(tmp_path):
    weights = random_weights_file()
    with ServerProcess(tmp_path / "work", weights, free_port(), "--queue-size", "32") as server:
        results, _ = run_load(server.url)
        # Then SIGTERM with a job running, one queued and an event stream open.
        running, queued, final = start_jobs_for_sigterm(server.url)
    assert server.stopped_cleanly, server.output()
    check(results, expected_results())
    final.join(30)
    assert final.event[0] == "end" and final.event[1]["status"] == "cancelled"
    jobs = tmp_path / "work" / "jobs"
    record = json.loads((jobs / running / "job.json").read_text())
    assert record["status"] == "cancelled" and record["evaluations"] >= 4
    with Image.open(jobs / running / "result-0.png") as kept:
        assert max(kept.size) == OPTIONS["size"]
    record = json.loads((jobs / queued / "job.json").read_text())
    assert record["status"] == "cancelled" and "shut down" in record["error"]


def start_jobs_for_sigterm(url: str):
    """A job that runs until stopped (followed by an open event stream) and one queued."""
    http = httpx.Client(base_url=url, timeout=120)
    long = OPTIONS | {"evaluations": 100_000}
    running = http.post("/api/jobs", files=job_files(png_bytes(1), [png_bytes(2)], long))
    queued = http.post("/api/jobs", files=job_files(png_bytes(1), [png_bytes(2)], OPTIONS))
    running, queued = running.json()["id"], queued.json()["id"]
    deadline = time.monotonic() + 60
    while http.get(f"/api/jobs/{running}").json()["evaluations"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    def follow():
        with httpx.Client(base_url=url, timeout=120) as client:
            with client.stream("GET", f"/api/jobs/{running}/events") as stream:
                body = "".join(stream.iter_text())
        final.event = parse_events(body)[-1]

    final = threading.Thread(target=follow)
    final.event = None
    final.start()
    time.sleep(0.5)  # the stream is open and has sent its first event
    http.close()
    return running, queued, final


def benchmark() -> None:
    """Prints the figures for BENCHMARKS.md."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = random_weights_file()
        with ServerProcess(tmp / "work", weights, free_port(), "--queue-size", "32") as server:
            # One job first, so that compilation is not counted as load.
            warm, warm_seconds = run_warm(server.url)
            results, wall = run_load(server.url)
        check(results, expected_results())
    seconds = sorted(r["seconds"] for r in results.values())
    jobs = len(results)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    figures = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{cpu}, {os.cpu_count()} cores visible",
        "jobs": jobs,
        "options": OPTIONS,
        "first job (compilation)": round(warm_seconds, 1),
        "wall seconds": round(wall, 2),
        "jobs per minute": round(jobs / wall * 60, 1),
        "submit to finish, median s": round(seconds[jobs // 2], 2),
        "submit to finish, max s": round(seconds[-1], 2),
    }
    print(json.dumps(figures, indent=1))
    del warm


def run_warm(url: str) -> tuple[dict, float]:
    with httpx.Client(base_url=url, timeout=600) as http:
        start = time.monotonic()
        files = job_files(png_bytes(99), [png_bytes(STYLE_SEED)], OPTIONS)
        job_id = http.post("/api/jobs", files=files).json()["id"]
        with http.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            body = "".join(stream.iter_text())
        return parse_events(body)[-1][1], time.monotonic() - start


if __name__ == "__main__":
    sys.exit(benchmark())
