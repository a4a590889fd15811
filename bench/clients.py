"""Minimal asyncio HTTP/1.1 keep-alive and websocket clients for the load generators.

Written on asyncio.Protocol rather than a client library so that thousands of sockets cost the
load generator as little CPU as possible: it shares the machine with the server it measures.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    body: bytes
    sent: float
    done: float

    @property
    def latency(self) -> float:
        return self.done - self.sent


class _HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        parsed = _parse_response(self.buffer)
        if parsed is not None:
            status, body, used = parsed
            del self.buffer[:used]
            self.waiter.set_result((status, body, time.perf_counter()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))


def _parse_response(buffer: bytearray) -> tuple[int, bytes, int] | None:
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return _parse_chunked(buffer, start, status)
    length = int(headers.get("content-length", "0"))
    if len(buffer) < start + length:
        return None
    return status, bytes(buffer[start : start + length]), start + length


def _parse_chunked(buffer: bytearray, position: int, status: int) -> tuple[int, bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        chunk_start = line_end + 2
        if len(buffer) < chunk_start + size + 2:
            return None
        if size == 0:
            return status, bytes(body), chunk_start + 2
        body += buffer[chunk_start : chunk_start + size]
        position = chunk_start + size + 2


class HttpConnection:
    """One keep-alive connection; requests on it are sent one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.protocol: _HttpProtocol | None = None

    async def _connect(self) -> _HttpProtocol:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_HttpProtocol, self.host, self.port)
        return protocol

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        sent: float | None = None,
    ) -> Response:
        """Send one request; `sent` overrides the start time (open-loop: the scheduled time)."""
        if self.protocol is None or self.protocol.closed:
            self.protocol = await self._connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        protocol = self.protocol
        protocol.waiter = asyncio.get_running_loop().create_future()
        started = time.perf_counter() if sent is None else sent
        protocol.transport.write(data)
        status, response_body, done = await protocol.waiter
        return Response(status, response_body, started, done)

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()


@dataclass
class Frame:
    arrived: float
    text: str


@dataclass
class _WebsocketState:
    handshake_done: asyncio.Future
    frames: list[Frame] = field(default_factory=list)
    close_code: int | None = None
    on_frame: Callable[[Frame], None] | None = None


def _mask(payload: bytes, opcode: int) -> bytes:
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + masked


class _WebsocketProtocol(asyncio.Protocol):
    def __init__(self, request: bytes, state: _WebsocketState) -> None:
        self.request = request
        self.state = state
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        self.buffer += data
        if not self.upgraded and not self._finish_handshake():
            return
        while self._next_frame(arrived):
            pass

    def _finish_handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        status_line = bytes(self.buffer[: self.buffer.find(b"\r\n")]).decode("latin-1")
        del self.buffer[: end + 4]
        if " 101 " not in status_line + " ":
            self.state.handshake_done.set_exception(ConnectionError(status_line))
            self.transport.close()
            return False
        self.upgraded = True
        self.state.handshake_done.set_result(True)
        return True

    def _next_frame(self, arrived: float) -> bool:
        buffer = self.buffer
        if len(buffer) < 2:
            return False
        fin, opcode, length = buffer[0] & 0x80, buffer[0] & 0x0F, buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                return False
            length, offset = struct.unpack(">H", buffer[2:4])[0], 4
        elif length == 127:
            if len(buffer) < 10:
                return False
            length, offset = struct.unpack(">Q", buffer[2:10])[0], 10
        if len(buffer) < offset + length:
            return False
        payload = bytes(buffer[offset : offset + length])
        del buffer[: offset + length]
        self._handle(opcode, bool(fin), payload, arrived)
        return True

    def _handle(self, opcode: int, fin: bool, payload: bytes, arrived: float) -> None:
        if opcode == 0x9:
            self.transport.write(_mask(payload, 0xA))
        elif opcode == 0x8:
            self.state.close_code = struct.unpack(">H", payload[:2])[0] if payload else 1005
            self.transport.close()
        elif opcode in (0x0, 0x1):
            self.fragments += payload
            if fin:
                frame = Frame(arrived, self.fragments.decode())
                self.fragments = bytearray()
                # Kept only without a callback: 200 sockets times 5,000 fragments is gigabytes.
                if self.state.on_frame is None:
                    self.state.frames.append(frame)
                else:
                    self.state.on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state.close_code is None:
            self.state.close_code = 1006
        if not self.state.handshake_done.done():
            self.state.handshake_done.set_exception(ConnectionError("closed during handshake"))


class WebsocketClient:
    """A logged-in browser's socket: session cookie and Origin header, frames timestamped."""

    def __init__(self, host: str, port: int, path: str, *, session: str) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.session = session
        self.state: _WebsocketState | None = None
        self.protocol: _WebsocketProtocol | None = None

    @property
    def frames(self) -> list[Frame]:
        return self.state.frames

    @property
    def close_code(self) -> int | None:
        return self.state.close_code

    async def connect(self, on_frame: Callable[[Frame], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{self.host}:{self.port}\r\n"
            f"Cookie: sessionid={self.session}\r\n\r\n"
        ).encode("latin-1")
        self.state = _WebsocketState(loop.create_future(), on_frame=on_frame)
        _, self.protocol = await loop.create_connection(
            lambda: _WebsocketProtocol(request, self.state), self.host, self.port
        )
        await self.state.handshake_done

    def close(self) -> None:
        if self.protocol is None or self.protocol.transport.is_closing():
            return
        self.protocol.transport.write(_mask(struct.pack(">H", 1000), 0x8))
        self.protocol.transport.close()
