"""Targets: what a generated firmware project is built for.

A `Target` describes one board: the compiler and its flags, the board source
files (paths relative to firmware/, copied into the generated project and
compiled with it), an optional linker-script template (relative to templates/,
rendered into the project as `linker.ld`), and how to emulate it (QEMU machine).

Every board implements firmware/common/board.h (board_init, board_read_byte,
board_write, board_cycles, board_name, board_cycle_unit); the main loop and the
device protocol in firmware/common are shared by all targets.

Register a target with `register(Target(...))`; look one up with
`get_target(name)` (TinygenError naming the known ones when absent).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tinygen.errors import TinygenError


@dataclass(frozen=True)
class Target:
    name: str
    kind: str                      # 'host' | 'cortex-m'
    cpu: str                       # 'native', 'cortex-m4', 'cortex-m55', ...
    description: str = ""
    cc: str = "cc"                 # C compiler command
    cflags: tuple[str, ...] = ()   # CPU/ABI flags (optimisation and warnings are the project's)
    ldflags: tuple[str, ...] = ()
    ldlibs: tuple[str, ...] = ()
    board_sources: tuple[str, ...] = ()   # relative to firmware/: .c/.s compiled, .h copied
    linker_script: str | None = None      # template relative to templates/, rendered as linker.ld
    qemu_machine: str | None = None
    size_tool: str = "size"
    objcopy: str | None = None            # set for targets that also produce firmware.bin
    # Extra variables the templates (Makefile, CMakeLists.txt, linker script) may read.
    extra: dict = field(default_factory=dict)

    @property
    def firmware_name(self) -> str:
        """The build output under DIR/build/."""
        return "firmware" if self.kind == "host" else "firmware.elf"


_TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    _TARGETS[target.name] = target
    return target


def get_target(name: str) -> Target:
    try:
        return _TARGETS[name]
    except KeyError:
        known = ", ".join(sorted(_TARGETS))
        raise TinygenError(f"unknown target '{name}' (known: {known})") from None


def target_names() -> list[str]:
    return sorted(_TARGETS)


def default_target_name() -> str:
    """mps2-an386 once the Cortex-M targets are registered, else host."""
    return "mps2-an386" if "mps2-an386" in _TARGETS else "host"


register(Target(
    name="host",
    kind="host",
    cpu="native",
    description="native program on this machine; speaks the device protocol on stdin/stdout",
    cc="cc",
    board_sources=("host/board_host.c",),
    size_tool="size",
))


# The Cortex-M boards (helper D): mps2-an386 (default), mps3-an547, nucleo-l4r5zi.
from tinygen.targets import cortex_m as _cortex_m  # noqa: E402,F401  (registers them)
