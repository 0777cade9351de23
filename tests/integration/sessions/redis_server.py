"""A ``redis-server`` of the test's own, on a free loopback port, that the test may stop and start again
on the same port (the shared Redis on 6379 is never stopped). Nothing is persisted: a restart is empty.
Optionally with a password (``--requirepass``), more arguments (an ACL ``--user``), or TLS only (a
``rediss://`` URL, certificates from :func:`tests.fakes.tls.make_ca`).
Raises (never skips) when redis-server is missing or does not come up."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from tests.fakes.tls import CertAuthority


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int, tls: CertAuthority | None) -> bool:
    """Whether the server answers a PING (``+PONG``, or ``-NOAUTH`` when it wants a password)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as raw:
            s = raw
            if tls is not None:
                s = ssl.create_default_context(cafile=tls.ca_file).wrap_socket(
                    raw, server_hostname="127.0.0.1"
                )
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


@dataclass
class RedisServer:
    """``start()`` on a free port (the same one again after ``stop()``); ``url`` for idgate."""

    directory: Path
    port: int = 0
    password: str | None = None
    tls: CertAuthority | None = None
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _asking: redis.Redis | None = field(default=None, repr=False)
    _asked: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        return self.url_for()

    def url_for(self, db: int = 0, user: str = "", password: str | None = None) -> str:
        """The URL of database ``db``, as ``user`` with ``password`` (default: the server's password)."""
        password = self.password if password is None else password
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else ""
        if self.tls is not None:
            return f"rediss://{auth}127.0.0.1:{self.port}/{db}?ssl_ca_certs={quote(str(self.tls.ca_file))}"
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def admin(self) -> redis.Redis:
        """A blocking redis-py client as the default user (to look at and steer the server)."""
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def calls(self, command: str) -> int:
        """How many times the server has run ``command`` (``INFO commandstats``)."""
        return self.commands().get(command.lower(), 0)

    def commands(self) -> dict[str, int]:
        """Every command the server has run so far and how many times, less this helper's ``INFO``s.
        The helper asks on one connection of its own, so what it says to open it shows once, at the
        first question: compare two answers to see what happened between them."""
        stats = self._info("commandstats")
        counts = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
        counts["info"] = counts.get("info", 0) - (self._asked - 1)  # an INFO is counted once it is done
        return {k: v for k, v in counts.items() if v}

    def connections(self) -> int:
        """The connections the server has accepted, less the one this helper keeps to ask."""
        return int(self._info("stats")["total_connections_received"]) - 1

    def _info(self, section: str) -> dict[str, Any]:
        if self._asking is None:
            self._asking = self.admin()
        self._asked += 1
        return dict(self._asking.info(section))

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/system-deps")
        self.port = self.port or _free_port()
        log = self.directory / f"redis-{self.port}.log"
        plain = "0" if self.tls is not None else str(self.port)  # TLS only: the port is the TLS port
        argv = [binary, "--bind", "127.0.0.1", "--port", plain, "--save", "", "--appendonly", "no"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        if self.tls is not None:
            argv += ["--tls-port", str(self.port), "--tls-auth-clients", "no"]
            argv += ["--tls-cert-file", str(self.tls.cert_file), "--tls-key-file", str(self.tls.key_file)]
            argv += ["--tls-ca-cert-file", str(self.tls.ca_file)]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*argv, *self.args],
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while not _answers(self.port, self.tls):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{log.read_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._asking is not None:
            self._asking.close()
        self._asking, self._asked = None, 0  # a restarted server counts from 0
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
