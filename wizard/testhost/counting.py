"""The delay relay, also counting the round trips the link sees (benchmark and tests).

A round trip is a wait for the other side: each TCP connection (its handshake) and each time
the client talks, first on a connection or again after it heard from the server. Over a slow
link (tens of ms) the packets a side sends at once arrive together, so this counts the waits
a latency adds; on a link without delay chunks split at random and the count is loose.
"""

from __future__ import annotations

import asyncio

from wizard.testhost.relay import DelayRelay, _Connection


class CountingRelay(DelayRelay):
    """A DelayRelay that counts connections and the client's turns to talk."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        delay_s: float = 0.05,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        super().__init__(target_host, target_port, delay_s, listen_host, listen_port)
        self.connections = 0
        self.turns = 0
        # Per connection (by id): has the server talked since the client last did?
        self._heard: dict[int, bool] = {}

    def reset_counts(self) -> None:
        """Start counting again from zero (connections already open stay)."""
        self.connections = self.turns = 0

    @property
    def round_trips(self) -> int:
        """The waits the link saw: connections and the client's turns."""
        return self.connections + self.turns

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await super()._handle(reader, writer)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        upload: _Connection | None = None,
    ) -> None:
        # The connection this pipe belongs to: the upload direction is given it, the download
        # one writes to its client side.
        connection = upload or next((c for c in self._connections if c.client is dst), None)
        if connection is None:
            await super()._pipe(src, dst, upload)
            return
        key = id(connection)
        if upload is not None:
            self._heard[key] = True  # the client's first words wait for the server's
        read = src.read

        async def counted(n: int = -1) -> bytes:
            data = await read(n)
            if data and upload is None:
                self._heard[key] = True
            elif data and self._heard.get(key):
                self.turns += 1
                self._heard[key] = False
            return data

        src.read = counted  # type: ignore[method-assign]
        try:
            await super()._pipe(src, dst, upload)
        finally:
            self._heard.pop(key, None)
