"""The incremental multipart reader: both agents' framings, header case, any split, heartbeats, bounds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes_core.ingest.mtconnect_xml import StreamsDocument, parse_streams
from mes_core.ingest.multipart import MultipartReader, boundary_of

BOUNDARY = "4a9c8e2f-0b1d-4c6e-9f3a-7d5b2e1c0a98"


def document(next_sequence: int, observations: str = "") -> bytes:
    streams = f"<Streams>{observations}</Streams>" if observations else "<Streams/>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MTConnectStreams xmlns="urn:mtconnect.org:MTConnectStreams:2.7">'
        f'<Header instanceId="9" nextSequence="{next_sequence}" firstSequence="1"'
        f' lastSequence="{next_sequence - 1}" bufferSize="1024"/>{streams}</MTConnectStreams>'
    ).encode()


def execution(sequence: int, value: str) -> str:
    return (
        '<DeviceStream name="m" uuid="m-1"><ComponentStream component="Path"><Events>'
        f'<Execution dataItemId="exec" sequence="{sequence}" timestamp="2024-01-01T00:00:00Z">{value}'
        "</Execution></Events></ComponentStream></DeviceStream>"
    )


BODIES = [document(11, execution(10, "ACTIVE")), document(11), document(13, execution(12, "READY"))]
"""Three parts: data, an empty <Streams/> heartbeat, data."""


def cppagent_27(bodies: list[bytes], boundary: str = BOUNDARY) -> bytes:
    """cppagent 2.x framing: one part per chunk, boundary first, CRLF after the document."""
    return b"".join(
        f"--{boundary}\r\nContent-Type: application/xml\r\nContent-Length: {len(b)}\r\n\r\n".encode()
        + b
        + b"\r\n"
        for b in bodies
    )


def cppagent_13(bodies: list[bytes], boundary: str = BOUNDARY) -> bytes:
    """cppagent 1.3 (x-mixed-replace) framing: a CRLF before each boundary, lower-case header names."""
    return b"".join(
        f"\r\n--{boundary}\r\nContent-type: text/xml\r\nContent-length: {len(b)}\r\n\r\n".encode() + b
        for b in bodies
    )


def without_length(bodies: list[bytes], boundary: str = BOUNDARY) -> bytes:
    """No Content-Length: each body runs up to the CRLF before the next boundary."""
    parts = b"".join(f"--{boundary}\r\nCONTENT-TYPE: text/xml\r\n\r\n".encode() + b + b"\r\n" for b in bodies)
    return parts + f"--{boundary}--\r\n".encode()


Framing = Callable[[list[bytes]], bytes]
FRAMINGS: list[Framing] = [cppagent_27, cppagent_13, without_length]


def read_all(reader: MultipartReader, chunks: list[bytes]) -> list[bytes]:
    return [part for chunk in chunks for part in reader.feed(chunk)]


# -- boundary_of ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        (f"multipart/mixed;boundary={BOUNDARY}", BOUNDARY),
        (
            "multipart/x-mixed-replace;boundary=5d41402abc4b2a76b9719d911017c592",
            "5d41402abc4b2a76b9719d911017c592",
        ),
        ('Multipart/Mixed; Boundary="a b;c"', "a b;c"),
        ('multipart/mixed; charset=utf-8; boundary="q\\"x"', 'q"x'),
        ("MULTIPART/X-MIXED-REPLACE ; BOUNDARY = abc ", "abc"),
    ],
)
def test_boundary_of_reads_both_multipart_types_quoted_or_not_in_any_case(
    content_type: str, boundary: str
) -> None:
    assert boundary_of(content_type) == boundary


@pytest.mark.parametrize(
    "content_type",
    ["text/xml", "application/xml; boundary=abc", "multipart/mixed", 'multipart/mixed; boundary=""', ""],
)
def test_boundary_of_is_none_without_a_multipart_boundary(content_type: str) -> None:
    assert boundary_of(content_type) is None


# -- framing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_all_parts_come_out_in_one_feed(framing: Framing) -> None:
    reader = MultipartReader(BOUNDARY)
    assert reader.feed(framing(BODIES)) == BODIES
    assert reader.dropped == 0


def test_the_close_delimiter_ends_the_stream() -> None:
    reader = MultipartReader(BOUNDARY)
    assert reader.feed(without_length(BODIES) + cppagent_27(BODIES)) == BODIES
    assert reader.closed
    assert reader.feed(cppagent_27(BODIES)) == []


def test_parts_are_returned_as_their_documents_and_parse() -> None:
    reader = MultipartReader(BOUNDARY)
    docs = [parse_streams(part) for part in reader.feed(cppagent_27(BODIES))]
    assert all(isinstance(doc, StreamsDocument) for doc in docs)
    _, heartbeat, more = docs
    assert isinstance(heartbeat, StreamsDocument)
    assert heartbeat.observations == ()
    assert heartbeat.header.next_sequence == 11
    assert isinstance(more, StreamsDocument)
    assert [o.value for o in more.observations] == ["READY"]


def test_a_part_without_headers_is_read_up_to_the_next_boundary() -> None:
    stream = f"--{BOUNDARY}\r\n".encode() + BODIES[0] + f"\r\n--{BOUNDARY}\r\n\r\n".encode() + BODIES[1]
    reader = MultipartReader(BOUNDARY)
    assert reader.feed(stream + f"\r\n--{BOUNDARY}--".encode()) == BODIES[:2]


def test_lf_only_line_ends_are_accepted() -> None:
    stream = cppagent_27(BODIES).replace(b"\r\n", b"\n")
    assert MultipartReader(BOUNDARY).feed(stream) == [b.replace(b"\r\n", b"\n") for b in BODIES]


def test_a_longer_boundary_that_starts_with_ours_is_not_ours() -> None:
    stream = f"--{BOUNDARY}X\r\nContent-Length: 3\r\n\r\nbad\r\n".encode() + cppagent_27(BODIES[:1])
    assert MultipartReader(BOUNDARY).feed(stream) == BODIES[:1]


def test_a_preamble_before_the_first_boundary_is_skipped() -> None:
    stream = b"This is a multipart message.\r\n" + cppagent_27(BODIES)
    assert MultipartReader(BOUNDARY).feed(stream) == BODIES


# -- splitting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_split_at_every_byte_offset_gives_the_same_parts(framing: Framing) -> None:
    stream: bytes = framing(BODIES)
    for offset in range(len(stream) + 1):
        reader = MultipartReader(BOUNDARY)
        assert read_all(reader, [stream[:offset], stream[offset:]]) == BODIES, offset


@pytest.mark.parametrize("framing", FRAMINGS)
def test_one_byte_at_a_time_gives_the_same_parts(framing: Framing) -> None:
    stream: bytes = framing(BODIES)
    reader = MultipartReader(BOUNDARY)
    assert read_all(reader, [stream[i : i + 1] for i in range(len(stream))]) == BODIES


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data(), framing=st.sampled_from(FRAMINGS))
def test_any_chunking_gives_the_same_parts(data: st.DataObject, framing: Framing) -> None:
    stream: bytes = framing(BODIES)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    reader = MultipartReader(BOUNDARY)
    assert read_all(reader, chunks) == BODIES
    assert reader.dropped == 0


# -- bounds --------------------------------------------------------------------------------------------

BIG = document(11, execution(10, "X" * 5000))


@pytest.mark.parametrize("framing", FRAMINGS)
def test_an_oversize_part_is_dropped_and_the_next_one_read(framing: Framing) -> None:
    stream: bytes = framing([BODIES[0], BIG, BODIES[2]])
    for step in (len(stream), 7, 1):
        reader = MultipartReader(BOUNDARY, max_part_bytes=1000)
        chunks = [stream[i : i + step] for i in range(0, len(stream), step)]
        peak = 0
        parts: list[bytes] = []
        for chunk in chunks:
            parts += reader.feed(chunk)
            peak = max(peak, reader.buffered)
        assert parts == [BODIES[0], BODIES[2]], step
        assert reader.dropped == 1
        if step < len(stream):
            assert peak <= 1000 + 2 * len(BOUNDARY) + step + 16  # the oversize part was never held whole


def test_a_runaway_header_block_is_dropped() -> None:
    stream = f"--{BOUNDARY}\r\n".encode() + b"X-Junk: yes\r\n" * 2000 + cppagent_27(BODIES[:1])
    reader = MultipartReader(BOUNDARY, max_header_bytes=1024)
    parts = read_all(reader, [stream[i : i + 100] for i in range(0, len(stream), 100)])
    assert parts == BODIES[:1]
    assert reader.dropped == 1


def test_a_bad_content_length_is_ignored() -> None:
    stream = (
        f"--{BOUNDARY}\r\nContent-Length: lots\r\n\r\n".encode() + BODIES[0] + f"\r\n--{BOUNDARY}--".encode()
    )
    assert MultipartReader(BOUNDARY).feed(stream) == BODIES[:1]


@pytest.mark.parametrize(
    ("boundary", "limits"),
    [("", {}), ("ü", {}), ("b", {"max_part_bytes": 0}), ("b", {"max_header_bytes": 0})],
)
def test_bad_reader_settings_raise_value_error(boundary: str, limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        MultipartReader(boundary, **limits)


@pytest.mark.parametrize(
    ("content_type", "framing"),
    [
        ("multipart/mixed;boundary={}", cppagent_27),
        ("multipart/x-mixed-replace;boundary={}", cppagent_13),
        ('MULTIPART/MIXED; BOUNDARY="{}"', without_length),
    ],
)
def test_a_reader_built_from_the_response_content_type_reads_the_stream(
    content_type: str, framing: Framing
) -> None:
    boundary = boundary_of(content_type.format(BOUNDARY))
    assert boundary is not None
    parts = MultipartReader(boundary).feed(framing(BODIES))
    assert [type(parse_streams(part)) for part in parts] == [StreamsDocument] * 3
