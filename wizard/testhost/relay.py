"""A TCP relay that adds latency, to test over a realistic link (no netem on this kernel).

Every chunk is held for delay/2 in each direction and the upstream connect is delayed by delay/2,
so each round trip, the TCP handshake included, costs `delay` more. Chunks are scheduled, not
serialised: the relay adds latency only, no loss and no bandwidth cap. It runs its own asyncio
loop in a daemon thread, so blocking code (Paramiko, the wizard) can use it directly.

It also counts what the client sent (`bytes_up`) and can cut the link cleanly after a given
number of further client bytes (`cut_after`): the server gets exactly those bytes and then a
FIN, as when the wizard's process is killed in the middle of an upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

CHUNK = 65536
T = TypeVar("T")


@dataclass(eq=False)
class _Connection:
    """One relayed connection: the client side and, once connected, the upstream side."""

    client: asyncio.StreamWriter
    handler: asyncio.Task[Any] | None = None
    upstream: asyncio.StreamWriter | None = None
    pipes: list[asyncio.Task[None]] = field(default_factory=list)

    def close_cleanly(self) -> None:
        """Close both sides with FIN, after what was already written: a clean cut."""
        for writer in (self.upstream, self.client):
            if writer is not None and not writer.is_closing():
                writer.close()

    def abort(self) -> None:
        """Reset both sides at once: RST, not FIN, like a link that died."""
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)


class DelayRelay:
    """Listen on listen_host:listen_port and relay to target_host:target_port with delay_s RTT."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        delay_s: float = 0.05,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self._listen = (listen_host, listen_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.address: tuple[str, int] | None = None
        # Bytes the clients sent towards the target, forwarded so far (all connections).
        self.bytes_up = 0
        # When set: how many more client bytes to forward before cutting every connection.
        self._budget: int | None = None
        self._cut_pause = 0.0
        self.cuts = 0

    def start(self) -> tuple[str, int]:
        """Start listening in a background thread; returns the (host, port) to connect to."""
        if self.address is not None:
            return self.address
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"delay-relay-{self.target[0]}", daemon=True
        )
        self._thread.start()
        self._server = self._call(self._start_server())
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        return self.address

    def drop_connections(self) -> int:
        """Reset every current connection (both sides) abruptly; returns how many there were.

        The listener stays open, so a client can reconnect: a "connection dropped" fault.
        """
        if self._loop is None:
            return 0
        return self._call(self._drop_all())

    def cut_after(self, count: int, pause_s: float = 0.5) -> None:
        """Forward `count` more bytes from the clients, then close every connection cleanly.

        The server receives exactly those bytes followed by a FIN, and so does the client
        from its side: what a killed wizard's kernel does to the link. `count` 0 cuts at the
        next byte the client sends. The FIN waits `pause_s` after the last byte: over a real
        link an upload takes long enough for sshd to hand what arrived to the command before
        the end comes; here the whole upload arrives within a millisecond, and an sshd that
        sees the end at once drops what it had not passed on yet.
        """
        if count < 0:
            raise ValueError("cut_after needs a byte count of 0 or more")
        assert self._loop is not None, "start the relay first"
        self._call(self._arm(count, pause_s))

    async def _arm(self, count: int, pause_s: float) -> None:
        self._budget = count
        self._cut_pause = pause_s

    @property
    def connection_count(self) -> int:
        """How many connections are being relayed right now."""
        return len(self._connections)

    def stop(self) -> None:
        """Close the listener, reset all connections and end the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            self._call(self._shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        loop.close()
        self._loop = self._thread = self._server = None
        self.address = None

    def __enter__(self) -> DelayRelay:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- inside the loop thread ----------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the relay's loop from another thread and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10.0)

    async def _start_server(self) -> asyncio.Server:
        return await asyncio.start_server(self._handle, *self._listen)

    async def _drop_all(self) -> int:
        connections = list(self._connections)
        for connection in connections:
            connection.abort()
        return len(connections)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_all()
        handlers = [c.handler for c in self._connections if c.handler is not None]
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(client=writer, handler=asyncio.current_task())
        self._connections.add(connection)
        try:
            # The client's handshake with us is instant; delay the upstream one so that
            # connecting costs a round trip, as it would over the slow link.
            await asyncio.sleep(self.delay_s / 2)
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            connection.upstream = up_writer
            connection.pipes = [
                asyncio.create_task(self._pipe(reader, up_writer, connection)),
                asyncio.create_task(self._pipe(up_reader, writer)),
            ]
            await asyncio.gather(*connection.pipes)
        except OSError:
            connection.abort()
        except asyncio.CancelledError:
            # Only stop() cancels a handler. Returning instead of re-raising keeps asyncio's
            # stream callback from logging the cancellation as an error.
            connection.abort()
        finally:
            for pipe in connection.pipes:
                pipe.cancel()
            for side in (connection.client, connection.upstream):
                if side is not None:
                    side.close()
            self._connections.discard(connection)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        upload: _Connection | None = None,
    ) -> None:
        """Copy src to dst, each chunk (and the EOF) delivered delay/2 after it arrived.

        `upload` is the connection whose client-to-target direction this is: its bytes are
        counted, and cut when `cut_after` says so.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        cut = False

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    if cut and upload is not None:
                        await dst.drain()
                        await asyncio.sleep(self._cut_pause)
                        upload.close_cleanly()
                    elif dst.can_write_eof() and not dst.is_closing():
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()

        # Reading never waits for delivery, so the link is not serialised: latency, not
        # throughput. TCP windows above (e.g. SSH's) bound how much waits in the queue.
        delivery = asyncio.create_task(deliver())
        try:
            while True:
                data = await src.read(CHUNK)
                if upload is not None and self._budget is not None and data:
                    data, cut = data[: self._budget], len(data) >= self._budget
                    self._budget -= len(data)
                if upload is not None:
                    self.bytes_up += len(data)
                if data:
                    queue.put_nowait((loop.time() + self.delay_s / 2, data))
                if cut:
                    self._budget = None
                    self.cuts += 1
                if not data or cut:
                    queue.put_nowait((loop.time() + self.delay_s / 2, b""))
                    break
            await delivery
        finally:
            delivery.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a socket with SO_LINGER 0, so the peer gets RST: an abrupt drop, not a clean close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
