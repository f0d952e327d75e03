"""`tinygen build DIR`: build a generated project with make; report flash and RAM use."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import click

from tinygen.errors import TinygenError


def _size(tool: str, binary: Path) -> dict | None:
    """text/data/bss of `binary` from binutils `size` (Berkeley format)."""
    if shutil.which(tool) is None:
        return None
    r = subprocess.run([tool, str(binary)], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    lines = r.stdout.strip().splitlines()
    if len(lines) < 2:
        return None
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}


def build_project(project_dir: str | Path, jobs: int | None = None, make_args: tuple[str, ...] = (),
                  quiet: bool = True) -> dict:
    """Run make in the project; returns {'firmware': path, 'size': {...} or None}."""
    from tinygen.device.firmware import read_project
    from tinygen.targets import get_target

    d = Path(project_dir)
    meta = read_project(d)
    target = get_target(meta["target"])
    if shutil.which("make") is None:
        raise TinygenError("'make' is not installed (or use CMake: see the project's README.md)")
    if shutil.which(target.cc) is None:
        raise TinygenError(f"compiler '{target.cc}' for target {target.name} is not installed")
    cmd = ["make", f"-j{jobs or os.cpu_count() or 1}", *make_args]
    r = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-25:])
        raise TinygenError(f"build failed in {d} ({' '.join(cmd)}):\n{tail}")
    q = subprocess.run(["make", "-s", "--no-print-directory", *make_args, "print-build-dir"], cwd=d,
                       capture_output=True, text=True)
    build_dir = q.stdout.strip().splitlines()[-1] if q.returncode == 0 and q.stdout.strip() else "build"
    firmware = d / build_dir / target.firmware_name
    if not firmware.is_file():
        raise TinygenError(f"make succeeded but produced no {firmware}")
    return {"firmware": firmware, "build_dir": build_dir, "size": _size(target.size_tool, firmware), "meta": meta}


@click.command("build")
@click.argument("project_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-j", "--jobs", type=int, default=None, help="parallel compile jobs (default: CPU count)")
@click.argument("make_args", nargs=-1)
def command(project_dir: Path, jobs: int | None, make_args: tuple[str, ...]):
    """Build the project in PROJECT_DIR (made by 'tinygen generate') with make and
    print its flash and RAM use. Extra MAKE_ARGS go to make, e.g. SANITIZE=1 or
    POISON=1 (see the project's Makefile).
    """
    if not project_dir.is_dir():
        raise TinygenError(f"{project_dir}: no such directory")
    res = build_project(project_dir, jobs=jobs, make_args=make_args)
    meta = res["meta"]
    click.echo(f"built {res['firmware']}")
    size = res["size"]
    # Cortex-M: one table, read off the ELF's section headers (flash = the flashed image,
    # firmware.bin, alignment gaps included; RAM = the RAM output sections .data/.bss/.stack)
    # and split with the link map. Host: binutils `size` (text+data, data+bss).
    if not _cortex_m_memory_table(res):
        for k, v in memory_rows(size, meta):
            if v is not None:
                click.echo(f"  {k:<20} {v:>10,} bytes")


def memory_rows(size: dict | None, meta: dict) -> list[tuple[str, int | None]]:
    """The host build's memory table. Weights are const: they live in flash
    (text/rodata), never in RAM; the arena is a static (bss) array in RAM."""
    rows: list[tuple[str, int | None]] = []
    weights, arena = meta.get("weight_bytes"), meta.get("arena_bytes")
    if size is not None:
        rows.append(("flash (text+data)", size["flash"]))
        if weights is not None and weights <= size["flash"]:
            rows.append(("  of which weights", weights))
        rows.append(("RAM (data+bss)", size["ram"]))
        if arena is not None and arena <= size["ram"]:
            rows.append(("  of which arena", arena))
        return rows
    return [("weights (flash)", weights), ("arena (RAM)", arena)]


def _cortex_m_memory_table(res: dict) -> bool:
    """Cortex-M firmware: flash/RAM split read off the ELF and its link map (helper D).
    False (nothing printed) for other targets."""
    from tinygen.targets import get_target

    target = get_target(res["meta"]["target"])
    if target.kind != "cortex-m":
        return False
    from tinygen.targets.cortex_m import format_memory_report, memory_report

    rep = memory_report(res["firmware"], target)
    click.echo(f"memory of {res['firmware'].name} ({target.name}):")
    for line in format_memory_report(rep):
        click.echo(line)
    binary = res["firmware"].with_suffix(".bin")
    if binary.is_file():
        click.echo(f"image for flashing: {binary} ({binary.stat().st_size:,} bytes"
                   + (f", written at 0x{target.extra['flash_window']:08x})" if "flash_window" in target.extra
                      else ")"))
    return True
