"""tinygen's device protocol, host side (the spec is docs/protocol.md; the
device side is firmware/common/protocol.c).

Frame (little-endian):  A5 5A | type u8 | seq u8 | length u32 | header_crc u16 |
payload | crc u32, where header_crc = CRC-16/CCITT-FALSE(type..length) and
crc = CRC-32/IEEE (zlib.crc32) over type..length and the payload.

The link is untrusted: bytes may be dropped, flipped or inserted. The reader
hunts for the sync bytes and checks both CRCs, so a corrupted reply is never
accepted; `DeviceSession` resends a request (with a fresh sequence number) on a
CRC error, an error reply saying the device saw a CRC error, or a timeout, and
raises TinygenError once its attempts are used up -- it never hangs.
"""
from __future__ import annotations

import json
import struct
import time
import zlib
from dataclasses import dataclass

from tinygen.errors import TinygenError

SYNC = b"\xA5\x5A"
HEADER_BYTES = 10
CMD_INFO = 0x01
CMD_INVOKE = 0x02
CMD_PROFILE = 0x03
CMD_PING = 0x04
RESPONSE_FLAG = 0x80
RSP_ERROR = 0xFF
CMD_NAMES = {CMD_INFO: "INFO", CMD_INVOKE: "INVOKE", CMD_PROFILE: "PROFILE", CMD_PING: "PING"}

# First contact (the first INFO): while NOTHING at all has come back, an attempt
# waits at most FIRST_CONTACT_WAIT s and only FIRST_CONTACT_ATTEMPTS are made, so a
# silent port fails in a few seconds; once bytes arrive the normal timeouts apply.
FIRST_CONTACT_WAIT = 1.0
FIRST_CONTACT_ATTEMPTS = 3

ERR_CRC = 1
ERR_LENGTH = 2
ERR_COMMAND = 3
ERR_UNSUPPORTED = 4
ERR_STATE = 5
ERROR_NAMES = {ERR_CRC: "CRC mismatch", ERR_LENGTH: "bad length", ERR_COMMAND: "unknown command",
               ERR_UNSUPPORTED: "unsupported", ERR_STATE: "bad state"}

# A header claiming more than this is treated as corrupt even if its CRC matches.
MAX_PAYLOAD = 64 << 20


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    head = struct.pack("<BBI", ftype, seq & 0xFF, len(payload))
    return (SYNC + head + struct.pack("<H", crc16(head)) + payload
            + struct.pack("<I", crc32(head + payload)))


@dataclass
class Frame:
    type: int
    seq: int
    payload: bytes


class CorruptFrame(Exception):
    """A frame whose header checked out but whose payload CRC did not."""

    def __init__(self, seq: int):
        super().__init__(f"corrupt frame (seq {seq})")
        self.seq = seq


class FrameReader:
    """Pulls frames out of a byte stream that may hold garbage."""

    def __init__(self):
        self.buf = bytearray()
        self.total = 0            # bytes received so far (for diagnostics)
        self.head = bytearray()   # the first bytes received
        self.headers_seen = 0     # frame headers whose CRC checked out
        self.sync_seen = False    # a sync pattern (A5 5A) arrived at some point

    def feed(self, data: bytes) -> None:
        self.buf += data
        self.total += len(data)
        if len(self.head) < 64:
            self.head += data[:64 - len(self.head)]

    def pop(self) -> Frame | None:
        """The next complete frame in the buffer, None if more bytes are needed.
        Raises CorruptFrame (and drops that frame) on a payload CRC mismatch."""
        buf = self.buf
        while True:
            start = buf.find(SYNC)
            if start < 0:
                # Keep a trailing 0xA5: it may be the first half of a sync.
                keep = 1 if buf[-1:] == b"\xA5" else 0
                del buf[:len(buf) - keep]
                return None
            self.sync_seen = True
            if start:
                del buf[:start]
            if len(buf) < HEADER_BYTES:
                return None
            head = bytes(buf[2:8])
            (hcrc,) = struct.unpack_from("<H", buf, 8)
            ftype, seq, length = struct.unpack("<BBI", head)
            if crc16(head) != hcrc or length > MAX_PAYLOAD:
                del buf[:1]  # not a frame start: hunt on from the next byte
                continue
            self.headers_seen += 1
            total = HEADER_BYTES + length + 4
            if len(buf) < total:
                return None
            payload = bytes(buf[HEADER_BYTES:HEADER_BYTES + length])
            (crc,) = struct.unpack_from("<I", buf, HEADER_BYTES + length)
            del buf[:total]
            if crc32(head + payload) != crc:
                raise CorruptFrame(seq)
            return Frame(ftype, seq, payload)

    def read(self, link, deadline: float) -> Frame | None:
        """Next frame from `link` before `deadline` (time.monotonic()), else None."""
        while True:
            frame = self.pop()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.feed(link.read(65536, remaining))


class DeviceError(TinygenError):
    """The device answered a request with an error frame."""


class NoAnswer(TinygenError):
    """A request got no valid reply after all attempts. `received` is how many
    bytes came back at all, `head` the first of them, `frames` how many frame
    headers checked out (0: whatever answered does not speak tinygen's protocol)."""

    def __init__(self, message: str, received: int = 0, head: bytes = b"", frames: int = 0,
                 sync: bool = False, detail: str = ""):
        super().__init__(message)
        self.received = received
        self.head = bytes(head)
        self.frames = frames
        self.sync = sync          # a frame sync (A5 5A) came back at some point
        self.detail = detail or message


class DeviceSession:
    """Requests to a device running tinygen firmware over a Link.

    `info()` -> dict, `invoke(input_bytes)` -> (output_bytes, cycles),
    `profile()` -> list of per-layer cycles of the last invoke, `ping(data)`.
    """

    def __init__(self, link, timeout: float = 10.0, attempts: int = 5):
        self.link = link
        self.timeout = timeout
        self.attempts = attempts
        self.reader = FrameReader()
        self._seq = 0
        self._info: dict | None = None
        self.retries = 0  # resends so far (for reports and tests)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def request(self, cmd: int, payload: bytes = b"", timeout: float | None = None,
                first_contact: bool = False) -> bytes:
        """Send `cmd` and return the payload of its reply (retrying as needed).

        first_contact: while nothing at all has been received, wait only
        FIRST_CONTACT_WAIT s per attempt and give up after FIRST_CONTACT_ATTEMPTS
        (also when bytes came but none looked like a tinygen frame)."""
        timeout = self.timeout if timeout is None else timeout
        seqs: set[int] = set()
        last_problem = "no answer"
        timed_out = False
        reader = self.reader
        made = 0
        for attempt in range(self.attempts):
            # Nothing that even starts like a frame so far: keep it short.
            quick = first_contact and not reader.sync_seen and reader.headers_seen == 0
            if quick and attempt >= FIRST_CONTACT_ATTEMPTS:
                break
            made += 1
            if attempt:
                self.retries += 1
            seq = self._next_seq()
            seqs.add(seq)
            frame = encode_frame(cmd, seq, payload)
            if timed_out:
                # The device may be waiting for payload bytes the link lost: zeros complete that
                # frame (it fails its CRC) and are skipped while the device hunts for a sync.
                self.link.write(bytes(len(frame)))
            timed_out = False
            self.link.write(frame)
            start = time.monotonic()
            received_before = reader.total
            wait = min(timeout, FIRST_CONTACT_WAIT) if quick else timeout
            deadline = start + wait
            while True:
                try:
                    frame = reader.read(self.link, deadline)
                except CorruptFrame as exc:
                    last_problem = "a reply failed its CRC"
                    if exc.seq in seqs:
                        break  # resend now rather than wait for the timeout
                    continue
                if frame is None:
                    if wait < timeout and reader.total > received_before and reader.sync_seen:
                        wait = timeout  # a frame is coming in: give the reply its full time
                        deadline = start + wait
                        continue
                    last_problem = f"no answer within {wait:g} s"
                    timed_out = True
                    break
                if frame.seq not in seqs:
                    continue  # a stale reply to an earlier request
                if frame.type == RSP_ERROR:
                    code = frame.payload[0] if frame.payload else 0
                    message = frame.payload[1:].decode("ascii", "replace")
                    if code == ERR_CRC:
                        last_problem = "the device saw a CRC error"
                        break
                    raise DeviceError(f"device error {code} ({ERROR_NAMES.get(code, '?')}): {message}")
                if frame.type != (cmd | RESPONSE_FLAG):
                    continue
                return frame.payload
        name = CMD_NAMES.get(cmd, f"0x{cmd:02x}")
        detail = f"did not answer {name} after {made} attempt{'s' if made != 1 else ''} ({last_problem})"
        raise NoAnswer(f"{getattr(self.link, 'description', 'device')} {detail}",
                       received=reader.total, head=bytes(reader.head), frames=reader.headers_seen,
                       sync=reader.sync_seen, detail=detail)

    def ping(self, data: bytes = b"tinygen") -> bytes:
        return self.request(CMD_PING, data)

    def info(self) -> dict:
        if self._info is None:
            raw = self.request(CMD_INFO)
            try:
                self._info = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise TinygenError(f"device INFO is not valid JSON: {exc}") from None
        return self._info

    def invoke(self, input_bytes: bytes, timeout: float | None = None) -> tuple[bytes, int]:
        raw = self.request(CMD_INVOKE, bytes(input_bytes), timeout=timeout)
        if len(raw) < 8:
            raise TinygenError("device INVOKE reply is too short")
        (cycles,) = struct.unpack_from("<Q", raw, 0)
        out = raw[8:]
        if self._info is not None:
            want = self._info["model"]["output_bytes"]
            if len(out) != want:
                raise TinygenError(f"device returned {len(out)} output bytes, model has {want}")
        return out, cycles

    def profile(self) -> list[int]:
        raw = self.request(CMD_PROFILE)
        (n,) = struct.unpack_from("<I", raw, 0)
        if len(raw) != 4 + 8 * n:
            raise TinygenError("device PROFILE reply has the wrong length")
        return list(struct.unpack_from(f"<{n}Q", raw, 4))
