"""SPDY/3.1 as Kubernetes streaming clients speak it (github.com/moby/spdystream).

Owns the frame codec (control and data frames), header-block compression (zlib primed with the
SPDY/3 dictionary, one context per direction) and `SpdySession`, the server half of a connection.
The session is transport-agnostic: the caller feeds received bytes and supplies an async `send`.
spdystream does no flow control (it neither sends nor honours WINDOW_UPDATE), so neither do we.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Headers = dict[str, list[str]]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
# RST_STREAM status codes (SPDY/3 section 2.6.3)
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
# GOAWAY status codes (SPDY/3 section 2.6.6)
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2
MAX_DATA = 32 * 1024  # what we put in one DATA frame (the wire allows 2^24-1)

# The zlib dictionary of SPDY/3 header compression, from the SPDY Protocol Draft 3 (section
# 2.6.10.1, "Compression", http://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3):
# length-prefixed header names and methods, then a run of common values.
_DICT_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TAIL.encode()


class ProtocolError(Exception):
    """The peer sent bytes that are not SPDY/3 (the session answers GOAWAY and ends)."""


@dataclass
class SynStream:
    stream_id: int
    headers: Headers
    flags: int = 0
    associated_to: int = 0
    priority: int = 0
    slot: int = 0


@dataclass
class SynReply:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (flag, id, value)
    flags: int = 0


@dataclass
class Ping:
    ping_id: int


@dataclass
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass
class Data:
    stream_id: int
    data: bytes
    flags: int = 0


Frame = SynStream | SynReply | HeadersFrame | RstStream | Settings | Ping | GoAway | WindowUpdate | Data


def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block: names lowercased, several values joined by NUL."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n, v = name.lower().encode(), "\x00".join(values).encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    """Inverse of `encode_header_block` (spdystream's parseHeaderValueBlock, names lowercased)."""
    try:
        (count,) = struct.unpack_from(">I", block)
        pos, headers = 4, {}
        for _ in range(count):
            name, pos = _string(block, pos)
            value, pos = _string(block, pos)
            headers.setdefault(name.lower(), []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"invalid header block: {exc}") from None
    return headers


def _string(block: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from(">I", block, pos)
    if pos + 4 + n > len(block):
        raise ProtocolError("truncated header block")
    return block[pos + 4:pos + 4 + n].decode(), pos + 4 + n


def _control(ftype: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload


class FrameEncoder:
    """Serialises frames for one direction; header blocks share one zlib context."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def _headers(self, headers: Headers) -> bytes:
        # a sync flush ends each block on a byte boundary while the context carries on
        return self._z.compress(encode_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, f: Frame) -> bytes:
        if isinstance(f, Data):
            if not 0 < f.stream_id < 1 << 31 or len(f.data) >= 1 << 24:
                raise ValueError("invalid data frame")
            return struct.pack(">II", f.stream_id, (f.flags << 24) | len(f.data)) + f.data
        if isinstance(f, SynStream):
            head = struct.pack(">IIBB", f.stream_id, f.associated_to, (f.priority & 7) << 5, f.slot)
            return _control(SYN_STREAM, f.flags, head + self._headers(f.headers))
        if isinstance(f, (SynReply, HeadersFrame)):
            ftype = SYN_REPLY if isinstance(f, SynReply) else HEADERS
            return _control(ftype, f.flags, struct.pack(">I", f.stream_id) + self._headers(f.headers))
        if isinstance(f, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", f.stream_id, f.status))
        if isinstance(f, Settings):
            body = b"".join(struct.pack(">II", (fl << 24) | i, v) for fl, i, v in f.entries)
            return _control(SETTINGS, f.flags, struct.pack(">I", len(f.entries)) + body)
        if isinstance(f, Ping):
            return _control(PING, 0, struct.pack(">I", f.ping_id))
        if isinstance(f, GoAway):
            return _control(GOAWAY, 0, struct.pack(">II", f.last_good_stream_id, f.status))
        if isinstance(f, WindowUpdate):
            return _control(WINDOW_UPDATE, 0, struct.pack(">II", f.stream_id, f.delta))
        raise TypeError(f"not a SPDY frame: {f!r}")


class FrameDecoder:
    """Incremental parser for one direction: `feed` bytes, get the complete frames back."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._z = zlib.decompressobj(zdict=DICTIONARY)

    def _headers(self, block: bytes) -> Headers:
        try:
            return decode_header_block(self._z.decompress(block))
        except zlib.error as exc:
            raise ProtocolError(f"header decompression failed: {exc}") from None

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, word = struct.unpack_from(">II", self._buf)
            length = word & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            body = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if first & 0x80000000:
                frame = self._control(first & 0xFFFF, word >> 24, body)
                if frame is not None:
                    frames.append(frame)
            elif first == 0:
                raise ProtocolError("data frame on stream 0")
            else:
                frames.append(Data(first, body, word >> 24))
        return frames

    def _control(self, ftype: int, flags: int, body: bytes) -> Frame | None:
        try:
            if ftype == SYN_STREAM:
                sid, assoc, prio, slot = struct.unpack_from(">IIBB", body)
                return SynStream(sid & 0x7FFFFFFF, self._headers(body[10:]), flags,
                                 assoc & 0x7FFFFFFF, prio >> 5, slot)
            if ftype in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", body)
                cls = SynReply if ftype == SYN_REPLY else HeadersFrame
                return cls(sid & 0x7FFFFFFF, self._headers(body[4:]), flags)
            if ftype == RST_STREAM:
                sid, status = struct.unpack_from(">II", body)
                return RstStream(sid & 0x7FFFFFFF, status)
            if ftype == SETTINGS:
                (n,) = struct.unpack_from(">I", body)
                pairs = [struct.unpack_from(">II", body, 4 + 8 * i) for i in range(n)]
                return Settings([(fi >> 24, fi & 0xFFFFFF, v) for fi, v in pairs], flags)
            if ftype == PING:
                return Ping(struct.unpack_from(">I", body)[0])
            if ftype == GOAWAY:
                sid, status = struct.unpack_from(">II", body)
                return GoAway(sid & 0x7FFFFFFF, status)
            if ftype == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", body)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error:
            raise ProtocolError(f"short control frame of type {ftype}") from None
        return None  # unknown control frame types are ignored (SPDY/3 section 2.2.1)


class StreamClosed(ConnectionError):
    """Writing to a stream that was reset, finished or whose session ended."""


class SpdyStream:
    """One peer-initiated stream: its headers, received data (`read`), and our half (`write`)."""

    _BUFFER = 256 * 1024  # received bytes held before the session stops reading (backpressure)

    def __init__(self, session: SpdySession, stream_id: int, headers: Headers) -> None:
        self.session, self.id, self.headers = session, stream_id, headers
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False  # remote half finished, reset, or session over
        self._readable, self._room, self.replied = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._room.set()
        self.local_closed = False
        self.was_reset = False

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    async def read(self) -> bytes:
        """The next chunk the peer sent; b"" once it finished the stream (or reset it)."""
        while not self._chunks:
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._buffered < self._BUFFER:
            self._room.set()
        return chunk

    async def write(self, data: bytes) -> None:
        await self.replied.wait()  # spdystream drops data that precedes the SYN_REPLY
        for i in range(0, len(data), MAX_DATA):
            if self.local_closed or self.was_reset:
                raise StreamClosed(f"stream {self.id} is closed")
            await self.session.send(Data(self.id, data[i:i + MAX_DATA]))

    async def close(self) -> None:
        """Finish our half (an empty DATA frame with FIN); idempotent, no-op after a reset."""
        if self.local_closed or self.was_reset or self.session.closed:
            return
        await self.replied.wait()
        self.local_closed = True
        await self.session.send(Data(self.id, b"", FLAG_FIN))
        self.session._maybe_forget(self)

    async def reset(self, status: int = CANCEL) -> None:
        if self.was_reset or self.session.closed:
            return
        self._end(reset=True)
        await self.session.send(RstStream(self.id, status))

    async def _deliver(self, data: bytes) -> None:
        while self._buffered >= self._BUFFER and not self._eof:
            self._room.clear()
            await self._room.wait()
        if not self._eof:
            self._chunks.append(data)
            self._buffered += len(data)
            self._readable.set()

    def _end(self, reset: bool = False) -> None:
        self._eof = True
        if reset:
            self.was_reset = True
            self._chunks.clear()  # like spdystream, a reset stream reads EOF at once
            self.session._streams.pop(self.id, None)
        self._readable.set()
        self._room.set()


class SpdySession:
    """The server side of one SPDY connection, after apimachinery's spdy.NewServerConnection.

    `on_stream(stream)` is called for each SYN_STREAM; True accepts it (SYN_REPLY), False refuses
    it (RST_STREAM CANCEL, as apimachinery's newSpdyStream does). `send(bytes)` writes to the wire.
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]],
                 on_stream: Callable[[SpdyStream], bool]) -> None:
        self._write, self._on_stream = send, on_stream
        self._encoder, self._decoder = FrameEncoder(), FrameDecoder()
        self._lock = asyncio.Lock()
        self._streams: dict[int, SpdyStream] = {}
        self._next_peer_id = 1  # client-initiated streams are odd and increasing
        self._last_good = 0
        self.closed = False

    async def send(self, frame: Frame) -> None:
        async with self._lock:  # encode under the lock: the header zlib context is ordered
            if self.closed:
                raise StreamClosed("the connection is closed")
            await self._write(self._encoder.encode(frame))

    async def feed(self, data: bytes) -> bool:
        """Handle received bytes; False once the peer said GOAWAY (the caller then ends it).
        Raises ProtocolError for malformed input."""
        for frame in self._decoder.feed(data):
            if isinstance(frame, SynStream):
                await self._syn_stream(frame)
            elif isinstance(frame, Data):
                stream = self._streams.get(frame.stream_id)
                if stream is not None:
                    if frame.data:
                        await stream._deliver(frame.data)
                    if frame.flags & FLAG_FIN:
                        stream._end()
                        self._maybe_forget(stream)
            elif isinstance(frame, RstStream):
                stream = self._streams.get(frame.stream_id)
                if stream is not None:
                    stream._end(reset=True)
            elif isinstance(frame, Ping):
                if frame.ping_id & 1:  # the client's ping (ours would be even): echo it
                    await self.send(frame)
            elif isinstance(frame, GoAway):
                return False
            # SETTINGS, WINDOW_UPDATE, HEADERS and SYN_REPLY need nothing from a server
        return True

    async def _syn_stream(self, frame: SynStream) -> None:
        sid = frame.stream_id
        if sid % 2 == 0 or sid < self._next_peer_id:  # spdystream's validateStreamId
            await self.send(RstStream(sid, PROTOCOL_ERROR))
            return
        self._next_peer_id, self._last_good = sid + 2, sid
        stream = SpdyStream(self, sid, frame.headers)
        self._streams[sid] = stream
        if frame.flags & FLAG_FIN:
            stream._end()
        if frame.flags & FLAG_UNIDIRECTIONAL:
            stream.local_closed = True
        if not self._on_stream(stream):
            stream._end(reset=True)
            await self.send(RstStream(sid, CANCEL))
            return
        await self.send(SynReply(sid, {}))
        stream.replied.set()

    def _maybe_forget(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream._eof:
            self._streams.pop(stream.id, None)

    async def goaway(self, status: int = GOAWAY_OK) -> None:
        if not self.closed:
            await self.send(GoAway(self._last_good, status))

    def shutdown(self) -> None:
        """The connection is over: every stream reads EOF and refuses writes."""
        self.closed = True
        for stream in list(self._streams.values()):
            stream._end(reset=True)
            stream.replied.set()
        self._streams.clear()
