"""A TCP proxy on loopback that delays traffic and counts round trips, to see a database
the way a function sees Cloud SQL: some milliseconds away.

    with LatencyProxy(database_url, delay_ms=1.0) as proxy:
        engine = create_engine(proxy.url)  # the same database, through the proxy
        ...
        proxy.turns  # how many times a client spoke after an answer (its round trips)

Each chunk is held for `delay_ms` after it arrived, in each direction, so a round trip costs
at least twice that (an answer in several chunks no more than one in one). A "turn" starts
when a client sends after the server last spoke (or first sends on a connection): a client
that pipelines several messages into one write pays one turn, a client that waits for an
answer between messages pays one each. Used by
tests/integration/test_driver.py and scripts/bench_db_latency.py; never by the functions.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from types import TracebackType

from devtools.database import normalize, pg8000_arguments


class LatencyProxy:
    def __init__(self, database_url: str, *, delay_ms: float = 0.0) -> None:
        """A proxy to the server of `database_url` (TCP or `unix_sock`); `url` is the same
        database through the proxy."""
        target = normalize(database_url)
        server = pg8000_arguments(database_url)
        self.upstream: str | tuple[str, int] = server["unix_sock"] or (
            server["host"],
            server["port"],
        )
        self.delay_s = delay_ms / 1000
        self.turns = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = (
            target.difference_update_query(["unix_sock"])
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()

    def __enter__(self) -> LatencyProxy:
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if isinstance(self.upstream, str):
                server = socket.socket(socket.AF_UNIX)
                server.connect(self.upstream)
            else:
                server = socket.create_connection(self.upstream)
                server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, server]
            # per connection: True while the server spoke last (the client's next write is a
            # new turn)
            state = {"answered": True}
            for source, target, from_client in ((client, server, True), (server, client, False)):
                threading.Thread(
                    target=self._pump,
                    args=(source, target, from_client, state),
                    daemon=True,
                    name="proxy-pump",
                ).start()

    def _pump(
        self,
        source: socket.socket,
        target: socket.socket,
        from_client: bool,
        state: dict[str, bool],
    ) -> None:
        """Read `source` and hand each chunk on, stamped with when it is due: its arrival
        plus the delay. The sending is another thread's (`_deliver`), so chunks that arrive
        while an earlier one waits are not held up behind it: like a link, the delay is
        paid once per direction, not once per chunk (a held chunk used to hold the next
        one's reading, so an answer in three chunks cost three delays)."""
        due: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        threading.Thread(
            target=self._deliver, args=(due, source, target), daemon=True, name="proxy-send"
        ).start()
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    if from_client and state["answered"]:
                        self.turns += 1
                    state["answered"] = not from_client
                due.put((time.monotonic() + self.delay_s, chunk))
        except OSError:
            pass
        due.put((0.0, b""))  # the end: shut both down once what came before is sent

    @staticmethod
    def _deliver(
        due: queue.SimpleQueue[tuple[float, bytes]], source: socket.socket, target: socket.socket
    ) -> None:
        try:
            while True:
                when, chunk = due.get()
                if not chunk:
                    break
                if (wait := when - time.monotonic()) > 0:
                    time.sleep(wait)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
