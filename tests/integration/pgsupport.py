"""A real PostgreSQL 15 server for integration tests: one per session, on loopback, with
its data in a temporary directory (run as the postgres user, as the server insists), and
a fresh database per test."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pvc.db.engine import DatabaseSpec
from tests.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER_PASSWORD = "pvc-integration"


def available() -> bool:
    return (PG_BIN / "postgres").exists() and os.geteuid() == 0


def _as_postgres(*cmd: str) -> list[str]:
    return ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
            *cmd]


@dataclass
class PgServer:
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes]

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               password=SUPERUSER_PASSWORD, dbname=dbname, autocommit=True)

    def new_database(self, name: str) -> DatabaseSpec:
        """An empty database owned by a role of the same name."""
        with self.admin() as conn:
            conn.execute(f'CREATE ROLE "{name}" LOGIN PASSWORD \'{name}\'')
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
        return DatabaseSpec(hosts=["127.0.0.1"], port=self.port, database=name,
                            username=name, password=name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start() -> PgServer:
    workdir = Path(tempfile.mkdtemp(prefix="pvc-pg-"))
    user = pwd.getpwnam("postgres")
    os.chown(workdir, user.pw_uid, user.pw_gid)
    data = workdir / "data"
    pwfile = workdir / "pw"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                                "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                                "--locale=C.UTF-8"),
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    log = open(workdir / "postgres.log", "ab")  # noqa: SIM115 - the server's, closed below
    proc = subprocess.Popen(
        _as_postgres(str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                     "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={workdir}",
                     "-c", "fsync=off", "-c", "shared_buffers=16MB"),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    server = PgServer(workdir, port, proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            server.admin().close()
            return server
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"PostgreSQL did not start; see {workdir}/postgres.log"
                                   ) from None
            time.sleep(0.1)
