"""Where `pvc` output goes, and the one mapping from errors to exit codes.

Results go to stdout; the banner and progress notes go to stderr (suppressed by -q);
errors go to stderr as one line, `Error: <message>`. Exit codes:

    0  success (and a declined confirmation, as in PVC)
    1  any other failure
    2  NotFound, and command-line usage errors (Click's convention)
    3  AlreadyExists       4  InvalidState       5  InvalidArgument
    6  Conflict            7  BackendError       8  Unauthorized
    9  Unavailable (the API cannot be reached)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from pvc.common.errors import PVCError

FC = TypeVar("FC", bound=Callable[..., Any] | click.Command)


def exit_code_for(exc: BaseException) -> int:
    """The exit code `pvc` ends with when `exc` ends a command."""
    if isinstance(exc, PVCError):
        return exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        return exc.exit_code
    return 1


class CommandFailed(click.ClickException):
    """A PVC error on its way out of Click: one line on stderr, the mapped exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.message}", err=True, file=file)


class PvcGroup(click.Group):
    """A Click group that turns PVC errors into `CommandFailed`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PVCError as exc:
            raise CommandFailed(exc.message, exit_code_for(exc)) from exc


def _flag(name: str) -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(getattr(ctx.obj, name, False)) if ctx is not None else False


def console(err: bool = False) -> Console:
    """A rich console on stdout (or stderr): colour only on a terminal or with --colour."""
    return Console(
        file=sys.stderr if err else sys.stdout,
        force_terminal=True if _flag("colour") else None,
        soft_wrap=True,
        highlight=False,
        markup=False,
        emoji=False,
    )


def echo(text: str | Text = "") -> None:
    """A result line on stdout."""
    if isinstance(text, Text):
        console().print(text)
    else:
        click.echo(text)


def echo_lines(lines: Iterable[Text | str]) -> None:
    out = console()
    for line in lines:
        out.print(line if isinstance(line, Text) else Text(line))


def info(text: str) -> None:
    """A note for the operator on stderr (not with -q)."""
    if not _flag("quiet"):
        click.echo(text, err=True)


def echo_json(data: Any, pretty: bool = False) -> None:
    """API data as it is: compact (`json`) or indented (`json-pretty`)."""
    click.echo(json.dumps(data, indent=2) if pretty else json.dumps(data))


def emit(data: Any, fmt: str, pretty: Any, extra: dict[str, Any] | None = None) -> None:
    """Print `data` in format `fmt`: json/json-pretty as is, otherwise via a formatter.

    `pretty` formats the default output; `extra` maps other format names to formatters.
    A formatter returns a string or a list of lines.
    """
    if fmt == "json":
        echo_json(data)
        return
    if fmt == "json-pretty":
        echo_json(data, pretty=True)
        return
    formatter = (extra or {}).get(fmt, pretty)
    result = formatter(data)
    if isinstance(result, str | Text):
        echo(result)
    else:
        echo_lines(result)


def confirm(prompt: str, yes: bool) -> bool:
    """Ask before a dangerous action, unless -y/--yes or -u/--unsafe was given.

    A refusal (or no answer on a closed stdin) prints "Aborted." and returns False.
    """
    if yes or _flag("unsafe"):
        return True
    try:
        if click.confirm(prompt, default=False, prompt_suffix="? ", err=True):
            return True
    except click.Abort:
        click.echo("", err=True)
    click.echo("Aborted.", err=True)
    return False


def format_option(choices: list[str], default: str = "pretty") -> Callable[[FC], FC]:
    """The `-f/--format` option with PVC's format names for one command."""
    return click.option(
        "-f",
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )
