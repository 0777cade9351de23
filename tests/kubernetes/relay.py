"""TCP relays for the pods' network: what kube-proxy does for a cluster IP and an ingress controller for a
host, and the way in to PostgreSQL and Redis, which listen on the host's loopback only.

The relays run on an event loop in a thread of their own, so that the test's own loops (one per test)
come and go while the cluster stays up. Each connection goes to the route's next target (round robin);
a target that refuses is recorded in :attr:`Relays.failures` and the client's connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator

from tests.kubernetes.topology import Route

__all__ = ["Relays", "relays"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class Relays:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.failures: list[str] = []
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, name="pod-relays", daemon=True)
        self._thread.start()

    def add(self, route: Route) -> None:
        """Listen on ``route.listen`` (blocks until the socket is bound)."""
        future = asyncio.run_coroutine_threadsafe(self._serve(route), self.loop)
        self._servers.append(future.result(timeout=10))

    async def _serve(self, route: Route) -> asyncio.Server:
        targets = itertools.cycle(route.targets)

        async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            host, port = next(targets)
            try:
                up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            except (OSError, TimeoutError) as exc:
                self.failures.append(f"{route.what}: {host}:{port}: {exc}")
                client_w.close()
                return
            await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))
            for w in (up_w, client_w):
                w.close()

        host, port = route.listen
        return await asyncio.start_server(handle, host, port, reuse_address=True)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def relays(routes: list[Route]) -> Iterator[Relays]:
    """Every route listening until the block ends (also when it fails)."""
    running = Relays()
    try:
        for route in routes:
            running.add(route)
        yield running
    finally:
        running.close()
