"""SPDY/3.1 framing, header compression and the server session (kubeproc.apiserver.spdy).

Known bytes: control frames as spdystream writes them, and the first bytes kubectl 1.33 sent
for one forwarded connection (captured from the real binary), which must decode with the SPDY/3
dictionary and a zlib context shared across header blocks.
"""

from __future__ import annotations

import asyncio
import zlib

import pytest

from kubeproc.apiserver import spdy

# kubectl 1.33 port-forward, one connection to pod port 7000: SYN_STREAM 1 (error), its FIN,
# SYN_STREAM 3 (data, whose header block reuses the zlib context of the first), "abc", FIN.
KUBECTL_133 = bytes.fromhex(
    "800300010000003e0000000100000000000078f9e3c6a7c202253a48f95b044eeae60606060c0c0c9c4590f8"
    "ca04a5634603704a2c294a4dcc851636aca9a0a800000000ffff"
    "0000000101000000"
    "800300010000001a00000003000000000000826a469502954389848d04000000ffff"
    "00000003000000036162630000000301000000")
KUBECTL_133_FRAMES = [
    spdy.SynStream(1, {"port": ["7000"], "requestid": ["0"], "streamtype": ["error"]}),
    spdy.Data(1, b"", spdy.FLAG_FIN),
    spdy.SynStream(3, {"streamtype": ["data"], "port": ["7000"], "requestid": ["0"]}),
    spdy.Data(3, b"abc"),
    spdy.Data(3, b"", spdy.FLAG_FIN),
]


def test_dictionary_is_the_spdy3_dictionary() -> None:
    # the dictionary id in every SPDY/3 zlib header (kubectl's bytes above carry e3c6a7c2)
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


@pytest.mark.parametrize("step", [len(KUBECTL_133), 1, 7, 13],
                         ids=["whole", "byte-by-byte", "7-byte-pieces", "13-byte-pieces"])
def test_decodes_what_kubectl_sends_however_it_is_split(step: int) -> None:
    dec = spdy.FrameDecoder()
    frames = []
    for i in range(0, len(KUBECTL_133), step):
        frames += dec.feed(KUBECTL_133[i:i + step])
    assert frames == KUBECTL_133_FRAMES


def test_second_header_block_needs_the_shared_context() -> None:
    first, second = KUBECTL_133[:8 + 0x3E], KUBECTL_133[78:78 + 8 + 0x1A]
    assert spdy.FrameDecoder().feed(first) == KUBECTL_133_FRAMES[:1]
    assert spdy.FrameDecoder().feed(first + second)[1] == KUBECTL_133_FRAMES[2]
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(second)


@pytest.mark.parametrize("frame,wire", [
    (spdy.RstStream(1, spdy.CANCEL), "80030003000000080000000100000005"),
    (spdy.RstStream(5, spdy.PROTOCOL_ERROR), "80030003000000080000000500000001"),
    (spdy.Ping(1), "800300060000000400000001"),
    (spdy.GoAway(3), "800300070000000800000003" "00000000"),
    (spdy.GoAway(0, spdy.GOAWAY_PROTOCOL_ERROR), "80030007000000080000000000000001"),
    (spdy.WindowUpdate(1, 65536), "80030009000000080000000100010000"),
    (spdy.Settings([(0, 7, 65536)]), "80030004000000" "0c" "00000001" "00000007" "00010000"),
    (spdy.Settings([(1, 4, 100)], flags=1), "80030004010000" "0c" "00000001" "01000004" "00000064"),
    (spdy.Data(3, b"abc"), "0000000300000003616263"),
    (spdy.Data(3, b"", spdy.FLAG_FIN), "0000000301000000"),
], ids=["rst-cancel", "rst-protocol-error", "ping", "goaway-ok", "goaway-protocol-error",
        "window-update", "settings", "settings-persist-clear", "data", "data-fin"])
def test_frames_encode_to_known_bytes_and_back(frame: spdy.Frame, wire: str) -> None:
    assert spdy.FrameEncoder().encode(frame).hex() == wire
    assert spdy.FrameDecoder().feed(bytes.fromhex(wire)) == [frame]


@pytest.mark.parametrize("frame", [
    spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}),
    spdy.SynStream(7, {"a": ["1", "2"], "b": [""]}, spdy.FLAG_FIN, associated_to=3, priority=5,
                   slot=1),
    spdy.SynReply(1, {}),
    spdy.SynReply(3, {"x": ["y"]}, spdy.FLAG_FIN),
    spdy.HeadersFrame(3, {"trailer": ["v"]}),
], ids=["syn-stream", "syn-stream-fields-and-multivalue", "syn-reply-empty", "syn-reply-fin",
        "headers"])
def test_header_frames_round_trip_over_one_context(frame: spdy.Frame) -> None:
    enc, dec = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = enc.encode(frame)
    assert wire[8 + (10 if isinstance(frame, spdy.SynStream) else 4):][:6] == \
        bytes.fromhex("78f9e3c6a7c2")  # zlib header naming the SPDY dictionary
    assert dec.feed(wire) == [frame]
    assert dec.feed(enc.encode(frame)) == [frame]  # the second block continues the context


@pytest.mark.parametrize("headers,block", [
    ({}, "00000000"),
    ({"Port": ["80"]}, "00000001" "00000004" "706f7274" "00000002" "3830"),
    ({"a": ["x", "y"]}, "00000001" "00000001" "61" "00000003" "780079"),
], ids=["empty", "name-lowercased", "values-joined-by-nul"])
def test_header_block_layout(headers: spdy.Headers, block: str) -> None:
    assert spdy.encode_header_block(headers).hex() == block
    assert spdy.decode_header_block(bytes.fromhex(block)) == \
        {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize("wire", [
    "0000000000000001ff",  # data on stream 0
    "8003000100000004" "00000001",  # SYN_STREAM too short for its fixed fields
    "8003000600000002" "0000",  # PING too short
], ids=["data-stream-zero", "short-syn-stream", "short-ping"])
def test_malformed_frames_are_protocol_errors(wire: str) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(bytes.fromhex(wire))


def test_truncated_header_block_is_a_protocol_error() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.decode_header_block(bytes.fromhex("00000001" "00000009" "6162"))


def test_unknown_control_frames_are_skipped() -> None:
    unknown = bytes.fromhex("8003000a00000002beef")
    assert spdy.FrameDecoder().feed(unknown + bytes.fromhex("800300060000000400000003")) == \
        [spdy.Ping(3)]


# ---- the session --------------------------------------------------------------------------

class Peer:
    """The client end: encodes what it sends, decodes what the session wrote."""

    def __init__(self, accept=lambda s: True) -> None:
        self.enc, self.dec = spdy.FrameEncoder(), spdy.FrameDecoder()
        self.got: list[spdy.Frame] = []
        self.streams: list[spdy.SpdyStream] = []

        async def send(data: bytes) -> None:
            self.got += self.dec.feed(data)

        def on_stream(stream: spdy.SpdyStream) -> bool:
            self.streams.append(stream)
            return accept(stream)

        self.session = spdy.SpdySession(send, on_stream)

    async def feed(self, *frames: spdy.Frame) -> bool:
        return await self.session.feed(b"".join(self.enc.encode(f) for f in frames))


def run(coro):
    return asyncio.run(coro)


def test_session_accepts_streams_and_carries_data_both_ways() -> None:
    async def go() -> None:
        p = Peer()
        assert await p.feed(spdy.SynStream(1, {"streamtype": ["data"]}), spdy.Data(1, b"in"),
                            spdy.Data(1, b"put", spdy.FLAG_FIN))
        assert p.got == [spdy.SynReply(1, {})]
        (s,) = p.streams
        assert s.header("streamType") == "data"
        assert [await s.read(), await s.read(), await s.read()] == [b"in", b"put", b""]
        await s.write(b"x" * (spdy.MAX_DATA + 5))
        await s.close()
        await s.close()  # idempotent
        assert p.got[1:] == [spdy.Data(1, b"x" * spdy.MAX_DATA), spdy.Data(1, b"xxxxx"),
                             spdy.Data(1, b"", spdy.FLAG_FIN)]
    run(go())


@pytest.mark.parametrize("frames,expect", [
    ([spdy.SynStream(2, {})], [spdy.RstStream(2, spdy.PROTOCOL_ERROR)]),
    ([spdy.SynStream(5, {}), spdy.SynStream(3, {})],
     [spdy.SynReply(5, {}), spdy.RstStream(3, spdy.PROTOCOL_ERROR)]),
], ids=["even-id-from-client", "id-going-backwards"])
def test_session_refuses_invalid_stream_ids(frames, expect) -> None:
    async def go() -> None:
        p = Peer()
        await p.feed(*frames)
        assert p.got == expect
    run(go())


def test_session_resets_streams_the_handler_rejects() -> None:
    async def go() -> None:
        p = Peer(accept=lambda s: s.header("port") != "")
        await p.feed(spdy.SynStream(1, {}), spdy.SynStream(3, {"port": ["1"]}))
        assert p.got == [spdy.RstStream(1, spdy.CANCEL), spdy.SynReply(3, {})]
    run(go())


@pytest.mark.parametrize("ping,echoed", [(1, True), (7, True), (2, False)],
                         ids=["client-ping-1", "client-ping-7", "even-id-is-a-reply-to-us"])
def test_session_echoes_client_pings(ping: int, echoed: bool) -> None:
    async def go() -> None:
        p = Peer()
        await p.feed(spdy.Ping(ping))
        assert p.got == ([spdy.Ping(ping)] if echoed else [])
    run(go())


def test_session_ignores_flow_control_and_settings() -> None:
    async def go() -> None:
        p = Peer()
        assert await p.feed(spdy.Settings([(0, 7, 1)]), spdy.WindowUpdate(1, 10))
        assert p.got == []
    run(go())


def test_goaway_ends_feeding() -> None:
    async def go() -> None:
        p = Peer()
        assert not await p.feed(spdy.GoAway(0))
    run(go())


def test_peer_reset_ends_reads_and_refuses_writes() -> None:
    async def go() -> None:
        p = Peer()
        await p.feed(spdy.SynStream(1, {}), spdy.Data(1, b"unread"), spdy.RstStream(1, spdy.CANCEL))
        (s,) = p.streams
        assert await s.read() == b""
        with pytest.raises(spdy.StreamClosed):
            await s.write(b"late")
        await s.close()  # no FIN after a reset
        assert p.got == [spdy.SynReply(1, {})]
    run(go())


def test_shutdown_ends_every_stream_and_the_goaway_names_the_last_stream() -> None:
    async def go() -> None:
        p = Peer()
        await p.feed(spdy.SynStream(1, {}), spdy.SynStream(3, {}))
        await p.session.goaway()
        assert p.got[-1] == spdy.GoAway(3)
        p.session.shutdown()
        for s in p.streams:
            assert await s.read() == b""
            with pytest.raises(spdy.StreamClosed):
                await s.write(b"x")
    run(go())


def test_a_full_stream_holds_the_session_until_read() -> None:
    async def go() -> None:
        p = Peer()
        await p.feed(spdy.SynStream(1, {}))
        (s,) = p.streams
        big = b"y" * spdy.SpdyStream._BUFFER
        await p.feed(spdy.Data(1, big))
        blocked = asyncio.ensure_future(p.feed(spdy.Data(1, b"z")))
        await asyncio.sleep(0)
        assert not blocked.done()  # backpressure: the session stops reading
        assert await s.read() == big
        assert await blocked
        assert await s.read() == b"z"
    run(go())
