"""A takeover whose pvcapid did not listen in time makes the next one wait longer (twice,
up to MAX_API_WAIT_FACTOR times timer.takeover_timeout), so a server too slow for the
configured wait still gets its API up on a later try; a start in time resets it. The API
here is a real process that listens on its port after a delay."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

from pvc.common import config as configmod
from pvc.common import procs
from pvc.common.errors import BackendError
from pvc.node.primary.services import MAX_API_WAIT_FACTOR, PrimaryServices
from tests.ports import free_port

TAKEOVER = 1.0
LISTEN_AFTER = 1.4  # longer than one takeover's wait, shorter than the doubled one

SLOW_API = """
import socket, sys, time
time.sleep(float(sys.argv[2]))
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    server.accept()[0].close()
"""


def services(tmp_path: Path) -> PrimaryServices:
    raw = copy.deepcopy(yaml.safe_load(configmod.SAMPLE_FILE.read_text()))
    port = free_port()
    raw["api"]["listen"] = {"address": "127.0.0.1", "port": port}
    raw["timer"]["takeover_timeout"] = TAKEOVER
    found = PrimaryServices(configmod.parse(raw), tmp_path)
    found.api_command = [sys.executable, "-c", SLOW_API, str(port), str(LISTEN_AFTER)]
    return found


def test_a_slow_api_gets_a_longer_wait_on_the_next_takeover(tmp_path: Path) -> None:
    primary = services(tmp_path)
    assert primary.api_wait() == TAKEOVER
    try:
        with pytest.raises(BackendError, match=r"within 1 s \(the next takeover of this "
                                               r"node waits 2 s\)"):
            primary._start_api()
    finally:
        procs.stop(primary.api, 1.0)
    assert primary.api_wait() == 2 * TAKEOVER
    try:
        primary._start_api()  # listens after 1.4 s, within the doubled wait
        assert primary.api is not None and primary.api.poll() is None
    finally:
        procs.stop(primary.api, 1.0)
    assert primary.api_wait() == TAKEOVER


def test_the_wait_grows_no_further_than_the_cap(tmp_path: Path) -> None:
    primary = services(tmp_path)
    primary.slow_api_starts = 20
    assert primary.api_wait() == MAX_API_WAIT_FACTOR * TAKEOVER
