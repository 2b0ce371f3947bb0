"""The studio's job folders on disk: WORKDIR/jobs/<id>/, every write atomic.

A job folder holds the inputs under generated names (`content`, `style-0`, ...: uploaded file
names are never used as paths), `job.json` (status, options, losses), `log.json` (every loss
record), `preview-<member>.png` while running, and `result-<member>.png` and `.gif` at the end.
Ids are 16 lowercase hex digits; anything else is refused before a path is built from it, so
no request can reach outside the workdir.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from stylejax.files import finite_json
from stylejax.files.atomic import atomic_write
from stylejax.studio.schema import BadRecord, checked_histories, checked_record

ID_PATTERN = re.compile(r"[0-9a-f]{16}")
JOBS = "jobs"
JOB_FILE = "job.json"
LOG_FILE = "log.json"

log = logging.getLogger("stylejax.studio")


def valid_id(job_id: str) -> bool:
    """True for a well-formed job id (16 lowercase hex digits), nothing else."""
    return isinstance(job_id, str) and ID_PATTERN.fullmatch(job_id) is not None


def result_name(member: int, extension: str) -> str:
    if extension not in ("png", "gif"):
        raise ValueError(f"results are .png or .gif, got {extension!r}")
    return f"result-{int(member)}.{extension}"


def preview_name(member: int) -> str:
    return f"preview-{int(member)}.png"


class JobStore:
    """Creates job folders and reads and writes the files in them."""

    def __init__(self, workdir: str | Path):
        self.root = (Path(workdir).expanduser().resolve() / JOBS).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def new_id(self) -> str:
        """A fresh random id whose folder has just been created."""
        while True:
            job_id = secrets.token_hex(8)
            try:
                (self.root / job_id).mkdir()
            except FileExistsError:
                continue
            return job_id

    def discard(self, job_id: str) -> None:
        """Removes a job folder whose upload was refused."""
        if valid_id(job_id):
            shutil.rmtree(self.root / job_id, ignore_errors=True)

    def path(self, job_id: str, name: str) -> Path:
        """The file `name` (one of the generated names above) of job `job_id`."""
        if not valid_id(job_id):
            raise KeyError(job_id)
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"not a job file name: {name!r}")
        path = self.root / job_id / name
        # Belt and braces: the id pattern already excludes separators and dots.
        if path.resolve().parent.parent != self.root:
            raise KeyError(job_id)
        return path

    def write_bytes(self, job_id: str, name: str, data: bytes) -> Path:
        path = self.path(job_id, name)
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
        return path

    def write_json(self, job_id: str, name: str, data: dict) -> None:
        """Standard JSON: a non-finite number (an overflowed loss) is written as null."""
        self.write_bytes(job_id, name, finite_json.dumps(data, indent=1).encode())

    def save_png(self, job_id: str, name: str, image: Image.Image) -> None:
        with atomic_write(self.path(job_id, name)) as tmp:
            image.save(tmp, format="PNG")

    def read_json(self, job_id: str, name: str) -> Any:
        """The file's JSON value, of any type (see stylejax.studio.schema); None if unreadable."""
        try:
            return json.loads(self.path(job_id, name).read_text())
        except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply
            return None

    def exists(self, job_id: str, name: str) -> bool:
        return self.path(job_id, name).is_file()

    def saved_jobs(self) -> list[tuple[dict, list[list[dict]]]]:
        """(job.json, log.json's loss histories) of every job folder whose job.json is readable
        and fits the schema (stylejax.studio.schema), oldest first; the others are skipped with
        a warning. A log.json that is missing or does not fit gives no histories."""
        found = []
        for folder in self.root.iterdir():
            if not (folder.is_dir() and valid_id(folder.name)):
                continue
            raw = self.read_json(folder.name, JOB_FILE)
            if raw is None:
                log.warning("skipping %s: no readable %s", folder, JOB_FILE)
                continue
            try:
                record = checked_record(raw, folder.name)
            except BadRecord as e:
                log.warning("skipping %s: %s", folder, e)
                continue
            histories = []
            saved_log = self.read_json(folder.name, LOG_FILE)
            if saved_log is not None:
                try:
                    histories = checked_histories(saved_log, record["members"])
                except BadRecord as e:
                    log.warning("%s: ignoring its loss histories: %s", folder, e)
            found.append((record, histories))
        return sorted(found, key=lambda pair: pair[0]["created"])
