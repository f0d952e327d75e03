"""The `tinygen` command line: a thin click layer over the package.

Each command lives in its own module under tinygen/commands/ and exposes a
click command named `command`. This module only registers them and turns
errors into the exit-status contract:

  0 success, 1 a mismatch or failed check, 2 bad input or usage
  (one line on stderr, never a traceback; TINYGEN_DEBUG=1 shows it).
"""
from __future__ import annotations

import importlib
import os
import sys

import click

from tinygen import __version__
from tinygen.errors import CheckFailed, TinygenError

# Order is the order `tinygen --help` lists them: the main job first.
COMMANDS = [
    "inspect", "run", "compare",          # model -> reference interpreter
    "generate", "build",                  # C project for a target
    "emulate", "flash", "verify", "profile",  # the device
    "train", "quantize",                  # data -> int8 model
]


class _LazyGroup(click.Group):
    """Imports a command's module only when it is used (TensorFlow stays unloaded)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"tinygen.commands.{name}")
        return module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tinygen")
def cli():
    """tinygen: take a small int8 network to a microcontroller and prove it runs
    there bit for bit as on the host.

    \b
    Typical flow:
      tinygen train data.csv -o model.keras
      tinygen quantize model.keras --calibration data.csv -o model.tflite
      tinygen generate model.tflite -o out/ --target mps2-an386
      tinygen build out/
      tinygen emulate mps2-an386 --bootloader --serial tcp:127.0.0.1:4444 &
      tinygen flash out/build/firmware.bin --port socket://127.0.0.1:4444
      tinygen verify model.tflite --port socket://127.0.0.1:4444 --random 8

    Exit status: 0 success, 1 mismatch or failed check, 2 bad input or usage.
    """


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _os_error_line(exc: OSError) -> str:
    """'<filename>: <strerror>' for an OSError that reached main (no traceback)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    name = exc.filename if exc.filename is not None else None
    if name is not None and exc.filename2 is not None:
        return f"{os.fsdecode(name)} -> {os.fsdecode(exc.filename2)}: {reason}"
    return f"{os.fsdecode(name)}: {reason}" if name is not None else reason


def _quiet_broken_pipe() -> None:
    """The reader of our stdout went away (`tinygen build DIR | head -1`): exit 0
    quietly, as CLI tools do. Point stdout at /dev/null so the interpreter's
    final flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(0)


def main(argv=None) -> None:
    # The models are small: BLAS threads cost more in start-up and contention than
    # they save (measured 3-5x slower on a busy 2-core machine). The user's own
    # setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    debug = bool(os.environ.get("TINYGEN_DEBUG"))
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:  # bare `tinygen`: the help, not an error
        with click.Context(cli, info_name="tinygen") as ctx:
            click.echo(cli.get_help(ctx))
        sys.exit(0)
    try:
        rv = cli.main(args=args, prog_name="tinygen", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        # click turns EPIPE on stdout into exit 1 after wrapping stdout: the reader of
        # our output went away (`| head -1`), which is not a failed check.
        from click.utils import PacifyFlushWrapper

        if exc.code == 1 and isinstance(sys.stdout, PacifyFlushWrapper):
            _quiet_broken_pipe()
        raise
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.UsageError as exc:  # one line, then where to look: status 2
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        _fail(f"{exc.format_message()}{hint}", 2)
    except click.ClickException as exc:  # e.g. click.BadParameter raised outside parsing
        _fail(exc.format_message(), 2)
    except TinygenError as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code)
    except CheckFailed as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except OSError as exc:  # a file tinygen could not read or write: the user's path, not a bug
        if debug:
            raise
        _fail(_os_error_line(exc), 2)
    except Exception as exc:  # a bug in tinygen, not the user's input
        if debug:
            raise
        _fail(f"internal error ({type(exc).__name__}: {exc}); rerun with TINYGEN_DEBUG=1 for the traceback "
              "and report it", 3)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
