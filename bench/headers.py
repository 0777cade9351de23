"""In-process cost of the edge's request-head classification, for A/B runs between two trees.

A browser's request (Chrome's navigation headers, a session cookie) is parsed by httptools into the
edge's :class:`~idgate.edge.http.Request`, exactly as :class:`~idgate.edge.connection.EdgeConnection`
does it (one ``add_header`` per field), without sockets or the rest of the request's work. Prints the
best of ``--runs`` runs, in µs per request. Run it against one tree and another::

    PYTHONPATH=/path/to/a/src python -m bench.headers
    PYTHONPATH=/path/to/b/src python -m bench.headers

and alternate them a few times: the difference is the classification's, the rest is the same parser.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httptools

from idgate.edge import http as edge_http

BROWSER = (
    b"GET /d/abc/overview?orgId=1&from=now-6h HTTP/1.1\r\n"
    b"Host: grafana.kkp.example.com\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="130", "Not?A_Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/130.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-User: ?1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Referer: https://grafana.kkp.example.com/dashboards\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n"
    b"Cookie: grafana_session=0123456789abcdef; grafana_oauth2_proxy=" + b"A" * 600 + b"\r\n"
    b"\r\n"
)


class _Callbacks:
    """The parser callbacks the edge's connection implements, reduced to filling a Request."""

    def __init__(self) -> None:
        self.req: Any = None

    def on_message_begin(self) -> None:
        self.req = edge_http.Request(0.0)

    def on_url(self, url: bytes) -> None:
        self.req.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.req.add_header(name, value)


def run(n: int) -> float:
    """µs per request over ``n`` parses of :data:`BROWSER`."""
    callbacks = _Callbacks()
    parser = httptools.HttpRequestParser(callbacks)
    data = BROWSER
    start = time.perf_counter()
    for _ in range(n):
        parser.feed_data(data)
    return (time.perf_counter() - start) / n * 1e6


def _fields() -> list[tuple[bytes, bytes]]:
    head = BROWSER.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [(n, v.strip()) for n, _, v in (line.partition(b":") for line in head)]


def classify_only(n: int) -> float:
    """µs per request for the ``add_header`` calls alone (no parser), over ``n`` requests."""
    fields = _fields()
    request = edge_http.Request
    start = time.perf_counter()
    for _ in range(n):
        req = request(0.0)
        for name, value in fields:
            req.add_header(name, value)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    parsed = min(run(args.requests) for _ in range(args.runs))
    classified = min(classify_only(args.requests) for _ in range(args.runs))
    print(f"{edge_http.__file__}: {parsed:.3f} µs per request head parsed, {classified:.3f} µs classifying")


if __name__ == "__main__":
    main()
