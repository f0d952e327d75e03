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

from tinygen.device.protocol import CMD_INFO, DeviceSession
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


def read_info(session: DeviceSession, timeout: float) -> dict:
    raw = session.request(CMD_INFO, timeout=timeout)
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
    kind = meta.get("target_kind", "host")
    launcher = LAUNCHERS.get(kind)
    if launcher is None:
        raise TinygenError(f"tinygen cannot start firmware for target kind '{kind}' here")
    return launcher(d, meta)


@contextlib.contextmanager
def connect(port: str | None = None, firmware_dir: Path | None = None, timeout: float = 5.0,
            attempts: int = ATTEMPTS) -> Iterator[Device]:
    link = _open_link(port, firmware_dir)
    try:
        session = DeviceSession(link, timeout=timeout, attempts=attempts)
        info = read_info(session, timeout)
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
