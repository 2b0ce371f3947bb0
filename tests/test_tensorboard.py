"""stylejax.cli.tensorboard: the event files, read back through their TFRecord framing."""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylejax.cli import tensorboard

event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli, reflected
        table.append(crc)
    return table


TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_crc32c_matches_its_published_check_value():
    # RFC 3720's check value of CRC-32C over "123456789" is 0xE3069283; unmask to compare.
    masked = _masked_crc32c(b"123456789")
    crc = ((masked - 0xA282EAD8) & 0xFFFFFFFF) << 15 | ((masked - 0xA282EAD8) & 0xFFFFFFFF) >> 17
    assert crc & 0xFFFFFFFF == 0xE3069283


def _events(folder: Path) -> list:
    """Every Event in the one event file in `folder`, checking both CRCs of every record."""
    (path,) = folder.glob("events.out.tfevents.*")
    data, events, at = path.read_bytes(), [], 0
    while at < len(data):
        header = data[at : at + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[at + 8 : at + 12])
        payload = data[at + 12 : at + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[at + 12 + length : at + 16 + length])
        assert header_crc == _masked_crc32c(header) and payload_crc == _masked_crc32c(payload)
        event = event_pb2.Event()
        event.ParseFromString(payload)
        events.append(event)
        at += 16 + length
    return events


def _scalars(events) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_scalars_and_images_of_a_single_run(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.random((6, 10, 3))
    with tensorboard.Writer(tmp_path) as writer:
        writer.scalars(1, {"total": 10.0, "content": 2.0, "style": 3.0, "tv": 0.0})
        writer.scalars(2, {"total": 5.0, "content": 1.5, "style": 0.25, "tv": 0.5})
        writer.image(2, image)
    events = _events(tmp_path)
    assert events[0].file_version.startswith("brain.Event:")
    assert _scalars(events) == {
        "loss/total": [(1, 10.0), (2, 5.0)],
        "loss/content": [(1, 2.0), (2, 1.5)],
        "loss/style": [(1, 3.0), (2, 0.25)],
        "loss/tv": [(2, 0.5)],  # written once it is non-zero
    }
    (picture,) = [(e.step, v.image) for e in events for v in e.summary.value if v.tag == "image"]
    step, summary = picture
    assert step == 2 and (summary.height, summary.width) == (6, 10)
    decoded = np.asarray(Image.open(io.BytesIO(summary.encoded_image_string)).convert("RGB"))
    np.testing.assert_array_equal(decoded, np.round(image * 255).astype(np.uint8))


def test_each_member_is_its_own_run(tmp_path):
    writer = tensorboard.Writer(tmp_path)
    for step in (10, 20):
        for k, member in enumerate(("style_weight=1e+04", "style_weight=1e+06")):
            writer.scalars(step, {"total": step * (k + 1), "content": 1, "style": 2}, member=member)
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "style_weight=1e+04",
        "style_weight=1e+06",
    ]
    assert _scalars(_events(tmp_path / "style_weight=1e+06"))["loss/total"] == [
        (10, 20.0),
        (20, 40.0),
    ]
    assert _scalars(_events(tmp_path / "style_weight=1e+04"))["loss/total"] == [
        (10, 10.0),
        (20, 20.0),
    ]


def test_bad_labels_and_images_are_refused(tmp_path):
    with tensorboard.Writer(tmp_path) as writer:
        with pytest.raises(ValueError, match="plain folder name, got '../x'"):
            writer.scalars(1, {"total": 1.0}, member="../x")
        with pytest.raises(ValueError, match=r"\(H, W, 3\) image, got shape \(4, 4\)"):
            writer.image(1, np.zeros((4, 4)))


def test_without_tensorboardx_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # makes the import fail
    with pytest.raises(tensorboard.TensorBoardUnavailableError) as caught:
        tensorboard.Writer(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "pip install 'stylejax[tensorboard]'" in message
    assert not list(tmp_path.iterdir())


def test_a_single_cli_run_writes_its_events_into_the_folder(tmp_path, weights_file):
    """Through the command line, as users run it: a single run is no sweep member."""
    from stylejax.cli import main as run
    from tests.tiny import FAST

    argv = ["--weights", str(weights_file), *FAST, "--size", "32", "--evaluations", "6"]
    argv += ["--save-every", "3", "--tensorboard", str(tmp_path / "tb")]
    assert run.main([*argv, "--output", str(tmp_path / "out.png")]) == 0
    events = _events(tmp_path / "tb")
    totals = _scalars(events)["loss/total"]
    assert [step for step, _ in totals] == list(range(1, 7))
    images = [e.step for e in events for v in e.summary.value if v.tag == "image"]
    assert images == [1, 3, 6]
