"""How Ceph's errnos become PVC errors, and what the OSD removal does with "not yet"."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from pvc.common.errors import BackendError, InvalidState, NotFound, NotYetKnown
from pvc.drivers.storage.ceph_conn import map_errno
from pvc.tasks.storage.osd.ceph import OsdCeph


@pytest.mark.parametrize("code, kind, words", [
    (errno.EAGAIN, NotYetKnown, "Ceph cannot yet tell: 5 pgs have unknown state"),
    (errno.EBUSY, InvalidState, "cannot tell: it is in use"),
    (errno.ENOENT, NotFound, "osd.9 does not exist"),
    (errno.EIO, BackendError, "Ceph failed to tell (EIO)"),
])
def test_errnos_map_to_their_errors(code: int, kind: type, words: str) -> None:
    err = map_errno(code, "tell", "5 pgs have unknown state", missing="osd.9")
    assert type(err) is kind
    assert words in str(err)


def test_not_yet_known_is_a_backend_error_for_code_that_handles_those() -> None:
    assert issubclass(NotYetKnown, BackendError)


class _Conn:
    """Answers every command from a list: an errno (failure) or JSON text."""

    def __init__(self, *answers: int | str) -> None:
        self.answers = list(answers)

    def command(self, cmd: dict[str, Any], op: str, *, mgr: bool = False) -> tuple[bytes, str]:
        assert cmd["prefix"] == "osd safe-to-destroy" and mgr
        answer = self.answers.pop(0)
        if isinstance(answer, int):
            raise map_errno(answer, op, "5 pgs have unknown state; cannot draw any conclusions")
        return answer.encode(), ""


def _ceph(*answers: int | str) -> OsdCeph:
    return OsdCeph(_Conn(*answers), conf=None)  # type: ignore[arg-type]


def test_pgs_of_unknown_state_mean_wait_not_fail() -> None:
    ok, why = _ceph(errno.EAGAIN).safe_to_destroy(1)
    assert not ok
    assert "5 pgs have unknown state" in why


def test_safe_and_unsafe_answers() -> None:
    assert _ceph('{"safe_to_destroy": [1]}').safe_to_destroy(1) == (True, "")
    ok, why = _ceph('{"safe_to_destroy": [], "stored_pgs": [1]}').safe_to_destroy(1)
    assert (ok, why) == (False, "it still stores PGs")


def test_other_failures_still_fail() -> None:
    with pytest.raises(BackendError, match="EIO"):
        _ceph(errno.EIO).safe_to_destroy(1)
