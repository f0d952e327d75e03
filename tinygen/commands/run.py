"""`tinygen run` (placeholder until its issue lands)."""
import click

from tinygen.errors import TinygenError


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args):
    """Not built yet."""
    raise TinygenError("'tinygen run' is not implemented yet")
