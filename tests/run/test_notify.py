"""Run notifications through Apprise, against a real HTTP endpoint on 127.0.0.1 (Apprise's json://)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from tests.cli.helpers import apcal

NIGHT = NightPlan(n_bias=3, dark_exposures=(), n_darks=0, filters=("L",), flat_exposures=(1.0,), n_flats=3)
RECIPE = """\
apcal: 1
name: notified
inputs: [{{path: frames}}]
output: {{dir: out}}
headers: {{timezone: Europe/Berlin}}
notify: {{urls: ["json://127.0.0.1:{port}/"]{when}}}
"""


class Endpoint:
    """A local HTTP server that records every POST body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("night") / "frames"
    generate_night(folder, CameraModel(rows=32, cols=48), NIGHT)
    return folder


def _night(tmp_path: Path, frames: Path, port: int, when: str = "") -> Path:
    shutil.copytree(frames, tmp_path / "frames")
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(port=port, when=f", when: {when}" if when else ""))
    return tmp_path


def test_one_post_says_what_was_built(tmp_path: Path, frames: Path, endpoint: Endpoint) -> None:
    night = _night(tmp_path, frames, endpoint.port)
    result = apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 0, result.stderr
    assert len(endpoint.bodies) == 1
    (body,) = endpoint.bodies
    assert body["title"] == "apcal notified: 2 built, 0 up to date, 0 failed"
    assert body["type"] == "success"
    message = body["message"].splitlines()
    assert message[0] == "Built (2):"
    assert message[1].startswith("- bias ") and message[2].startswith("- flat L ")
    assert message[-1].startswith("Report: ") and message[-1].endswith("_report.html")
    assert Path(message[-1].removeprefix("Report: ")).is_file()


def test_when_problems_sends_nothing_for_a_clean_run(
    tmp_path: Path, frames: Path, endpoint: Endpoint
) -> None:
    night = _night(tmp_path, frames, endpoint.port, when="problems")
    assert apcal("run", "recipe.yaml", cwd=night).returncode == 0
    assert endpoint.bodies == []
    (night / "frames" / "broken.fits").write_text("not FITS\n")  # a problem: one unreadable file
    assert apcal("run", "recipe.yaml", cwd=night).returncode == 0
    (body,) = endpoint.bodies
    assert body["type"] == "failure" and "1 input files skipped as unreadable" in body["message"]


def test_an_endpoint_that_is_down_is_a_warning_not_a_failed_run(tmp_path: Path, frames: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    night = _night(tmp_path, frames, port)
    result = apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "warning: notification could not be sent to every service (json)"
    assert "127.0.0.1" not in result.stderr  # URLs may hold tokens: never printed
    assert len(list((night / "out" / "master").glob("master*"))) == 2
