"""Errors that reach the user as one line and an exit status.

Exit-status contract (every command): 0 success, 1 a mismatch or failed check,
2 bad input or usage. The CLI turns these exceptions into that line and status;
nothing else should print a traceback at the user.
"""


class TinygenError(Exception):
    """Bad input or usage: the message says what is wrong and what to do. Exit 2."""

    exit_code = 2


class UnsupportedOpError(TinygenError):
    """The model uses an op (or an op variant) tinygen does not implement."""

    def __init__(self, op_type: str, op_index: int, detail: str = ""):
        self.op_type = op_type
        self.op_index = op_index
        msg = f"unsupported op {op_type} at position {op_index}"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class ModelFormatError(TinygenError):
    """The model file is not a readable/valid model."""


class CheckFailed(Exception):
    """A comparison or verification found a difference. Exit 1."""

    exit_code = 1
