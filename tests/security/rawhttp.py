"""Raw-socket HTTP for the adversarial suite: send exact bytes, read what comes back."""

from __future__ import annotations

import socket
import time


def exchange(port: int, data: bytes, *, timeout: float = 5.0, wait_close: bool = False) -> bytes:
    """Send ``data`` on a new connection; read until the first response is complete (or close/timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
            if not wait_close and _complete(got):
                break
        return got


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip() or 0)
    return True


def status(response: bytes) -> int:
    """The status code of the first response (0 when nothing came back)."""
    if not response.startswith(b"HTTP/1."):
        return 0
    return int(response.split(b" ", 2)[1])


def responses(data: bytes) -> int:
    """How many status lines ``data`` holds (a smuggled second request shows as a second response)."""
    return data.count(b"HTTP/1.1 ")


def header(response: bytes, name: str) -> str | None:
    head = response.partition(b"\r\n\r\n")[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None
