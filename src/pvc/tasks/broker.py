"""Starting a coordinator's Redis in the role the cluster gives it now.

A Redis keeps the role its file names. A master that was lost (its node powered off) and
comes back would start as a master again, with the queue as it was at the loss, until
the Sentinels see it and turn it into a replica: up to ten seconds in which a client that
asks a Sentinel that has not heard of the failover yet (its own node's, just restarted)
writes results into data that is about to be thrown away. So before a Redis starts, ask
the other coordinators' Sentinels which Redis is the master now and, if it is another
one, start this one as its replica:

    python -m pvc.tasks.broker --conf /etc/redis/redis.conf --self 10.0.1.1:6379 \\
        --sentinel 10.0.1.2:26379 --sentinel 10.0.1.3:26379 --sentinels 3

It then runs redis-server in its place (exec). With too few Sentinels answering (the
whole cluster starting), the file's role stands.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Sequence

import redis

log = logging.getLogger("pvc.tasks.broker")

ASK_TIMEOUT = 1.0


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return host, int(port)


def current_master(sentinels: Sequence[tuple[str, int]], name: str, total: int,
                   timeout: float = ASK_TIMEOUT) -> tuple[str, int] | None:
    """The master that the Sentinels answering name with the newest configuration epoch
    (a Sentinel that missed a failover names the old master with an older epoch); None
    unless a majority of all `total` Sentinels answered."""
    answers: list[tuple[int, str, int]] = []
    for host, port in sentinels:
        try:
            state = redis.Redis(host, port, socket_timeout=timeout, decode_responses=True,
                                socket_connect_timeout=timeout).sentinel_master(name)
        except redis.RedisError:
            continue
        if isinstance(state, dict) and state.get("ip") and state.get("port"):
            answers.append((int(state.get("config-epoch", 0) or 0), str(state["ip"]),
                            int(state["port"])))
    if len(answers) < total // 2 + 1:
        return None
    _epoch, ip, port = max(answers)
    return ip, port


def redis_command(conf: str, me: tuple[str, int], master: tuple[str, int] | None) -> list[str]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    command = [server, conf]
    if master is not None and master != me:
        command += ["--replicaof", master[0], str(master[1])]
    return command


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pvc.tasks.broker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conf", required=True, help="this Redis's configuration file")
    p.add_argument("--self", dest="me", required=True, type=_address,
                   help="this Redis's address as the Sentinels know it (HOST:PORT)")
    p.add_argument("--sentinel", action="append", default=[], type=_address,
                   help="another coordinator's Sentinel (HOST:PORT; repeat)")
    p.add_argument("--sentinels", type=int, required=True,
                   help="how many Sentinels the cluster has in all (this node's too)")
    p.add_argument("--master-name", default="pvc")
    args = p.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    master = current_master(args.sentinel, args.master_name, args.sentinels)
    command = redis_command(args.conf, args.me, master)
    if master is None:
        log.info("Too few Sentinels answer: starting Redis in the role its file names")
    elif master != args.me:
        log.info("The master is %s:%d: starting this Redis as its replica", *master)
    else:
        log.info("This Redis is the master the Sentinels name")
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
