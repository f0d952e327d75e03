"""Opening a device for `verify` and `profile`: a serial URL the user gives
(--port) or a built firmware project tinygen starts itself (--firmware: the
host program, or QEMU for the emulated Cortex-M boards).

    with connect(port=None, firmware_dir=Path("out")) as device:
        device.info            # the INFO dict (board, cycle unit, model identity)
        out, cycles = device.invoke(payload)

Timeouts: INFO must answer within `timeout` seconds per attempt; an INVOKE may
take `timeout` plus one second per `SLOWEST_LINK_BYTES_PER_S` bytes of input
(QEMU's emulated UART moves only some KB/s). Every request is retried by
DeviceSession (CRC errors, lost bytes); when the attempts are used up the user
gets one clear line naming the link, never a hang.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tinygen.device.protocol import CMD_INFO, DeviceSession, NoAnswer
from tinygen.errors import TinygenError

SLOWEST_LINK_BYTES_PER_S = 1000.0
ATTEMPTS = 4


@dataclass
class Device:
    session: DeviceSession
    info: dict
    description: str
    timeout: float

    @property
    def model(self) -> dict:
        return self.info.get("model", {})

    @property
    def cycle_unit(self) -> str:
        return str(self.info.get("cycle_unit", "cycles"))

    @property
    def emulated(self) -> bool:
        from tinygen.targets import get_target

        try:
            return get_target(str(self.info.get("board", ""))).qemu_machine is not None
        except TinygenError:
            return False

    def invoke_timeout(self) -> float:
        return self.timeout + float(self.model.get("input_bytes", 0)) / SLOWEST_LINK_BYTES_PER_S

    def invoke(self, payload: bytes) -> tuple[bytes, int]:
        return self.session.invoke(payload, timeout=self.invoke_timeout())

    def profile(self) -> list[int]:
        return self.session.profile()


BOOTLOADER_BYTES = {0x79, 0x1F}   # STM32 ROM bootloader ACK / NACK


def no_firmware_message(where: str, exc: NoAnswer) -> str:
    """What to tell the user when nothing that speaks tinygen's protocol answers."""
    checks = ("is the board still in its bootloader? was the firmware flashed and started "
              "(tinygen flash ... without --no-go)? right port and baud?")
    if exc.received == 0:
        return f"no tinygen firmware answered on {where}: nothing received ({exc.detail}; {checks})"
    head = exc.head
    if head and set(head) <= BOOTLOADER_BYTES:
        return (f"no tinygen firmware answered on {where}: received {exc.received} byte(s) "
                f"{head[:8].hex(' ')} to INFO -- that is an STM32 bootloader (ACK 0x79 / NACK 0x1F), not the firmware: "
                "start the firmware (tinygen flash ... without --no-go, or reset the board with BOOT0 low)")
    if not exc.sync and exc.frames == 0:
        return (f"no tinygen firmware answered on {where}: received {exc.received} byte(s) that are not "
                f"tinygen frames (first: {head[:8].hex(' ')}; {exc.detail}; {checks} firmware for another "
                "target?)")
    return (f"tinygen firmware on {where} {exc.detail}: its replies arrive damaged or not at all "
            "(check the cable, the baud rate, and that nothing else uses the port)")


def read_info(session: DeviceSession, timeout: float, where: str | None = None,
              first_contact: bool = False) -> dict:
    try:
        raw = session.request(CMD_INFO, timeout=timeout, first_contact=first_contact)
    except NoAnswer as exc:
        if where is None:
            raise
        raise TinygenError(no_firmware_message(where, exc)) from None
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TinygenError(f"the device's INFO reply is not valid JSON ({exc}): is it running tinygen firmware?"
                           ) from None
    if not isinstance(info, dict) or "model" not in info:
        raise TinygenError("the device's INFO reply has no model description: is it running tinygen firmware?")
    session._info = info  # lets DeviceSession.invoke check the output length
    return info


def _open_link(port: str | None, firmware_dir: Path | None):
    if (port is None) == (firmware_dir is None):
        raise TinygenError("give exactly one of --port URL and --firmware DIR")
    if port is not None:
        from tinygen.device.link import SerialLink

        return SerialLink(port)
    from tinygen.device.firmware import LAUNCHERS, read_project

    d = Path(firmware_dir)
    if not d.is_dir():
        raise TinygenError(f"{d}: no such directory")
    meta = read_project(d)
    check_fresh_build(d, meta)
    kind = meta.get("target_kind", "host")
    launcher = LAUNCHERS.get(kind)
    if launcher is None:
        raise TinygenError(f"tinygen cannot start firmware for target kind '{kind}' here")
    return launcher(d, meta)


def _stale(d: Path) -> TinygenError:
    return TinygenError(f"{d} was regenerated since it was built: run tinygen build {d}")


def check_fresh_build(d: Path, meta: dict) -> None:
    """A project regenerated (tinygen generate --force) after its last build runs the
    OLD model: refuse before starting it, naming the fix."""
    firmware = d / str(meta.get("firmware", "build/firmware"))
    sources = [d / name for name in ("model.c", "model_data.c") if (d / name).is_file()]
    if firmware.is_file() and sources and max(p.stat().st_mtime for p in sources) > firmware.stat().st_mtime:
        raise _stale(d)


def check_project_model(d: Path, info: dict) -> None:
    """The started firmware must carry the model DIR/tinygen.json names."""
    from tinygen.device.firmware import read_project

    want = read_project(d).get("model_hash")
    got = (info.get("model") or {}).get("hash")
    if want and got and want != got:
        raise _stale(d)


@contextlib.contextmanager
def connect(port: str | None = None, firmware_dir: Path | None = None, timeout: float = 5.0,
            attempts: int = ATTEMPTS, announce=None) -> Iterator[Device]:
    """`announce(line)`, when given, is told right away what is being connected to."""
    if announce is not None and (port is None) != (firmware_dir is None):
        announce(f"connecting to {port} ..." if port is not None else f"starting the firmware of {firmware_dir} ...")
    link = _open_link(port, firmware_dir)
    try:
        session = DeviceSession(link, timeout=timeout, attempts=attempts)
        info = read_info(session, timeout, where=str(port or firmware_dir), first_contact=port is not None)
        if firmware_dir is not None:
            check_project_model(Path(firmware_dir), info)
        yield Device(session, info, getattr(link, "description", str(port or firmware_dir)), timeout)
    finally:
        link.close()


def check_model(device: Device, model_hash: str, model_path: Path) -> None:
    """The device must run the model the user named (CheckFailed, exit 1, otherwise)."""
    got = device.model.get("hash")
    if got != model_hash:
        from tinygen.errors import CheckFailed

        raise CheckFailed(f"the device runs another model: '{device.model.get('name', '?')}' (hash {got}), "
                          f"not {model_path.name} (hash {model_hash}); generate, build and flash this model first")
