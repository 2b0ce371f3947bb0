"""`python -m stylejax.serve`: its argument checks, the URL it prints and its warning."""

import pytest

pytest.importorskip("uvicorn")

import uvicorn  # noqa: E402

import stylejax  # noqa: E402
from stylejax.studio import serve  # noqa: E402


@pytest.fixture()
def started(monkeypatch):
    """Runs main() up to uvicorn without serving; returns the uvicorn configs it made."""
    configs = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: configs.append(self.config))
    monkeypatch.setattr(stylejax, "Stylizer", lambda weights=None: object())
    monkeypatch.setenv("STYLEJAX_NO_COMPILE_CACHE", "1")
    return configs


def test_localhost_by_default_and_the_url_is_printed(started, tmp_path, capsys):
    assert serve.main(["--workdir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "http://127.0.0.1:8000/" in out and "WARNING" not in err
    assert started[0].host == "127.0.0.1" and started[0].port == 8000
    assert (tmp_path / "jobs").is_dir()


def test_binding_elsewhere_without_a_token_warns(started, tmp_path, capsys):
    assert serve.main(["--host", "0.0.0.0", "--port", "8123", "--workdir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "WARNING" in err and "--token" in err
    assert "http://127.0.0.1:8123/" in out


def test_a_token_silences_the_warning_and_is_in_the_url(started, tmp_path, capsys):
    argv = ["--host", "0.0.0.0", "--token", "s3cret", "--workdir", str(tmp_path)]
    assert serve.main(argv) == 0
    out, err = capsys.readouterr()
    assert "WARNING" not in err and "/?token=s3cret" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--port", "0"], "--port"),
        (["--port", "70000"], "--port"),
        (["--max-upload-mb", "0"], "--max-upload-mb"),
        (["--max-upload-mb", "inf"], "--max-upload-mb"),
        (["--max-upload-mb", "nan"], "--max-upload-mb"),
        (["--max-upload-mb", "-1"], "--max-upload-mb"),
        (["--max-upload-mb", "1e308"], "--max-upload-mb"),  # inf bytes
        (["--queue-size", "0"], "--queue-size"),
        (["--max-pixels", "0"], "--max-pixels"),
        (["--token", " "], "--token"),
        (["--weights", "/no/such/weights.h5"], "weights.h5"),
        (["--preset", "fancy"], "--preset must be one of seed, classic, tiny"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, capsys, argv, words, monkeypatch):
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: pytest.fail("must not serve"))
    monkeypatch.setenv("STYLEJAX_NO_COMPILE_CACHE", "1")
    assert serve.main([*argv, "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("text", ["[1, 2]", '{"id": "cccccccccccccccc", "styles": "abc"}'])
def test_a_bad_stored_job_is_skipped_at_start(started, tmp_path, capsys, caplog, text):
    folder = tmp_path / "jobs" / "cccccccccccccccc"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(text)
    assert serve.main(["--workdir", str(tmp_path)]) == 0
    assert f"skipping {folder}" in caplog.text and "Traceback" not in capsys.readouterr().err


def test_the_preset_reaches_the_app(started, tmp_path):
    assert serve.main(["--workdir", str(tmp_path), "--preset", "classic"]) == 0
    assert started[0].app.state.settings.preset == "classic"


def test_urls():
    assert serve.url_for("::", 80, None) == "http://[::1]:80/"
    assert serve.url_for("::1", 80, "t") == "http://[::1]:80/?token=t"
    assert serve.url_for("192.168.1.5", 8000, None) == "http://192.168.1.5:8000/"
