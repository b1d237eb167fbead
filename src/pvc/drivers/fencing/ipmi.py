"""IPMI power control through `ipmitool`, as used for fencing dead nodes.

The node daemon fences with exactly what an operator would type against a real server:
``ipmitool -I lanplus -H host -U user chassis power off|on|status``. Two deliberate
differences from the naive command line:

* The password travels in the environment (``-E`` reads ``IPMI_PASSWORD``), so it never
  shows up in ``ps`` output or /proc/*/cmdline.
* The RMCP+ cipher suite is given explicitly (``-C 3``: RAKP-HMAC-SHA1, HMAC-SHA1-96,
  AES-CBC-128) unless ``cipher_suite=None``. Without ``-C``, ipmitool 1.8.19 first asks the
  BMC for its cipher suite list; BMCs that do not answer that (ipmi_sim among them) cost a
  full timeout per call before ipmitool falls back to suite 3. Suite 3 is the one every
  IPMI 2.0 BMC is expected to offer; pass 17 for BMCs that allow only SHA-256 suites.

``timeout`` (``-N``, seconds per packet) and ``retries`` (``-R``) are small so that an
unreachable BMC fails in about ``timeout * (retries + 1)`` seconds for ``lan`` and a little
more for ``lanplus`` (ipmitool grows the wait per retry), instead of ipmitool's 20+ s
default. Note ``-R 0`` means "default" to ipmitool, hence ``retries >= 1``.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from typing import Final, Protocol, runtime_checkable

from pvc.common.errors import BackendError, InvalidArgument

IPMITOOL: Final = "/usr/bin/ipmitool"
INTERFACES: Final = ("lanplus", "lan")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE: Final = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_DOTTED_RE: Final = re.compile(r"^[0-9.]+$")
_USERNAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$")
# IPMI 2.0 passwords are at most 20 bytes, IPMI 1.5 ones 16; printable ASCII, no blanks.
_PASSWORD_RE: Final = re.compile(r"^[\x21-\x7e]{1,20}$")
_MAX_PASSWORD: Final = {"lanplus": 20, "lan": 16}
_STATUS_RE: Final = re.compile(r"^Chassis Power is (on|off)\s*$", re.MULTILINE)


@runtime_checkable
class PowerControl(Protocol):
    """What fencing needs from a node's management controller."""

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def power_status(self) -> str:
        """Return "on" or "off"."""
        ...


def validate_host(host: str) -> str:
    """Accept an IPv4 address or an RFC 1123 host name; nothing that could be an option."""
    if not isinstance(host, str):
        raise InvalidArgument("IPMI host must be a string")
    if _DOTTED_RE.fullmatch(host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise InvalidArgument(f"invalid IPMI host address: {host!r}") from None
    if not _HOSTNAME_RE.fullmatch(host):
        raise InvalidArgument(f"invalid IPMI host name: {host!r}")
    return host


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username):
        raise InvalidArgument(
            "invalid IPMI username: 1-16 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return username


def validate_password(password: str, interface: str = "lanplus") -> str:
    limit = _MAX_PASSWORD.get(interface, 20)
    if not isinstance(password, str) or not _PASSWORD_RE.fullmatch(password) or len(password) > limit:
        raise InvalidArgument(
            f"invalid IPMI password: 1-{limit} printable ASCII characters without blanks"
        )
    return password


class IpmiTool:
    """`PowerControl` for one BMC, driving /usr/bin/ipmitool without a shell."""

    def __init__(
        self,
        host: str,
        username: str,
        password: str,
        port: int = 623,
        interface: str = "lanplus",
        timeout: int = 1,
        *,
        retries: int = 1,
        cipher_suite: int | None = 3,
    ) -> None:
        if interface not in INTERFACES:
            raise InvalidArgument(f"invalid IPMI interface {interface!r}: use lanplus or lan")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidArgument(f"invalid IPMI port: {port!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 60:
            raise InvalidArgument(f"invalid IPMI timeout (whole seconds, 1-60): {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 1 <= retries <= 10:
            raise InvalidArgument(f"invalid IPMI retry count (1-10): {retries!r}")
        if cipher_suite is not None and (
            isinstance(cipher_suite, bool)
            or not isinstance(cipher_suite, int)
            or not 0 <= cipher_suite <= 17
        ):
            raise InvalidArgument(f"invalid IPMI cipher suite (0-17): {cipher_suite!r}")
        self.host = validate_host(host)
        self.username = validate_username(username)
        self._password = validate_password(password, interface)
        self.port = port
        self.interface = interface
        self.timeout = timeout
        self.retries = retries
        self.cipher_suite = cipher_suite

    def __repr__(self) -> str:
        return (
            f"IpmiTool(host={self.host!r}, username={self.username!r}, port={self.port}, "
            f"interface={self.interface!r})"
        )

    def argv(self, *command: str) -> list[str]:
        """The ipmitool command line for `command` (the password is not part of it)."""
        args = [IPMITOOL, "-I", self.interface, "-H", self.host, "-p", str(self.port)]
        args += ["-U", self.username, "-E", "-N", str(self.timeout), "-R", str(self.retries)]
        if self.interface == "lanplus" and self.cipher_suite is not None:
            args += ["-C", str(self.cipher_suite)]
        return [*args, *command]

    def _run(self, *command: str) -> str:
        what = f"ipmitool {' '.join(command)} on {self.host}:{self.port} ({self.interface})"
        # ipmitool's own give-up time is well below this; it is only a safety net.
        limit = 5 + 3 * self.timeout * (self.retries + 1)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
        env["IPMI_PASSWORD"] = self._password
        try:
            proc = subprocess.run(
                self.argv(*command),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                env=env,
                timeout=limit,
                check=False,
            )
        except FileNotFoundError:
            raise BackendError(f"{what}: {IPMITOOL} is not installed") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"{what}: no answer within {limit} s") from None
        except OSError as exc:
            raise BackendError(f"{what}: cannot run ipmitool: {exc}") from None
        if proc.returncode != 0:
            detail = " ".join((proc.stderr.strip() or proc.stdout.strip()).split())
            raise BackendError(
                f"{what} failed (exit {proc.returncode}): {detail or 'no error output'}"
            )
        return proc.stdout

    def power_on(self) -> None:
        self._control("on")

    def power_off(self) -> None:
        self._control("off")

    def _control(self, action: str) -> None:
        out = self._run("chassis", "power", action)
        if "Chassis Power Control" not in out:
            raise BackendError(
                f"ipmitool chassis power {action} on {self.host}:{self.port}: "
                f"unexpected reply {out.strip()!r}"
            )

    def power_status(self) -> str:
        out = self._run("chassis", "power", "status")
        match = _STATUS_RE.search(out)
        if match is None:
            raise BackendError(
                f"ipmitool chassis power status on {self.host}:{self.port}: "
                f"unexpected reply {out.strip()!r}"
            )
        return match.group(1)
