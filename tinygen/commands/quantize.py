"""`tinygen quantize` (placeholder until its issue lands)."""
import click

from tinygen.errors import TinygenError


@click.command("quantize", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args):
    """Not built yet."""
    raise TinygenError("'tinygen quantize' is not implemented yet")
