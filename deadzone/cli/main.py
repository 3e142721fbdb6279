"""The ``deadzone`` command: one group, one module per subcommand."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from types import FrameType
from typing import NoReturn

import click

from deadzone import __version__
from deadzone.errors import DeadzoneError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns library errors into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        debug = bool(ctx.params.get("debug"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                _SHOWN.clear()
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except DeadzoneError as exc:
            if debug:
                raise
            msg = " ".join(str(exc).split())
            click.echo(f"error: {msg}", err=True)
            ctx.exit(2)
        except (OSError, ValueError, ImportError) as exc:
            if debug:
                raise
            msg = " ".join(str(exc).split())
            click.echo(f"error: {type(exc).__name__}: {msg}", err=True)
            ctx.exit(2)


#: Warning lines already printed by this command: a what-if session or a web
#: app re-audits the same villages many times, and each audit would repeat
#: the same line about the same input.
_SHOWN: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    from deadzone.errors import warning_text

    shown = warning_text(message, category)
    if shown is None:
        return
    text = f"warning: {shown}"
    if text not in _SHOWN:
        _SHOWN.add(text)
        click.echo(text, err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deadzone")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Quiet for every subcommand: as its own -q (no progress bar or summary); "
    "warnings and errors are still shown.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int, quiet: bool) -> None:
    """deadzone: find villages without mobile signal, explain why, and plan where to act.

    Computes terrain-aware coverage of cell towers over a DEM, gives every
    village a status (covered / marginal / dead / unknown) with a reason,
    rolls the counts up per commune and province ("covered villages: X/Y"),
    and draws an offline map.

    \b
    Start here:
      deadzone demo --out demo_out      # generated demo province, end to end
      deadzone audit --help             # the same on your own data
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if quiet:
        # `deadzone -q audit ...` == `deadzone audit -q ...`: the group runs before the
        # subcommand's context is made, so the subcommand reads quiet=True as its default.
        commands = ctx.command.commands if isinstance(ctx.command, click.Group) else {}
        quiet_default = {
            name: {"quiet": True}
            for name, cmd in commands.items()
            if any(p.name == "quiet" for p in cmd.params)
        }
        ctx.default_map = {**quiet_default, **(ctx.default_map or {})}
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _register() -> None:
    from deadzone.cli.audit import audit_cmd
    from deadzone.cli.batch import batch_cmd
    from deadzone.cli.calibrate import calibrate_cmd
    from deadzone.cli.coverage import coverage_cmd
    from deadzone.cli.demo import demo_cmd
    from deadzone.cli.fiber import fiber_cmd
    from deadzone.cli.link import link_cmd
    from deadzone.cli.map import map_cmd
    from deadzone.cli.place import place_cmd
    from deadzone.cli.plan import plan_cmd
    from deadzone.cli.progress import progress_cmd
    from deadzone.cli.report import export_cmd, report_cmd
    from deadzone.cli.serve import serve_cmd
    from deadzone.cli.whatif import whatif_cmd

    cli.add_command(demo_cmd)
    cli.add_command(audit_cmd)
    cli.add_command(coverage_cmd)
    cli.add_command(whatif_cmd)
    cli.add_command(serve_cmd)
    cli.add_command(place_cmd)
    cli.add_command(plan_cmd)
    cli.add_command(fiber_cmd)
    cli.add_command(progress_cmd)
    cli.add_command(calibrate_cmd)
    cli.add_command(batch_cmd)
    cli.add_command(report_cmd)
    cli.add_command(export_cmd)
    cli.add_command(map_cmd)
    cli.add_command(link_cmd)


_register()


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (module initialisation)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the command as Ctrl-C does: through every ``finally`` (the
    temporary files and folders of a run are removed) instead of at once.

    Not inside an import: an exception raised while a C extension initialises
    (numpy, matplotlib, Pillow) turns into ``ImportError('initialization
    failed')`` and can leave the interpreter unable to finalise, so there the
    signal is sent again 20 ms later, until the import is done.
    """
    if _importing(frame):
        import threading

        retry = threading.Timer(0.02, os.kill, (os.getpid(), signum))
        retry.daemon = True
        retry.start()
        return
    raise SystemExit(128 + signum)


def main() -> NoReturn:
    """Console-script entry point (and ``python -m deadzone``).

    The process ends through :func:`_exit_now`: exit handlers run and the
    standard streams are flushed, but the interpreter's own teardown is
    skipped.
    """
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli(prog_name="deadzone")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    _exit_now(code)


def _exit_now(code: object) -> NoReturn:
    """End the process with ``code`` (as ``SystemExit(code)`` would) without
    the interpreter's teardown.

    Once a command is done, finalising the interpreter frees every module's
    objects one by one: Numba's type registries and loaded machine code,
    GDAL and PROJ contexts, pandas: 0.15 s after ``--help``, 0.4 s after an
    audit, a tenth of a national audit's run.  Nothing of the command's is
    left to finish by then: its files are closed by the ``with`` blocks that
    wrote them, its worker threads joined.  So the exit handlers run
    (``atexit``: logging's flush among them), the standard streams are
    flushed, and the process ends.
    """
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # SystemExit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed or broken pipe: nothing to keep
                pass
    finally:
        os._exit(status & 0xFF)  # as the OS reads exit(status): -1 -> 255
