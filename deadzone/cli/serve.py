"""``deadzone serve``: the interactive what-if page on a local web server."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from deadzone.cli.options import (
    EngineOptions,
    engine_options,
    scenario_option,
    session_options,
    whatif_session,
)
from deadzone.model.thresholds import status_labels

__all__ = ["serve_cmd"]


@click.command("serve", short_help="Interactive what-if map in the browser (local web app).")
@scenario_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on. Anything but loopback lets other machines edit the "
    "session (a warning is printed).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="TCP port; 0 picks a free one (the URL is printed).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the web browser.")
@click.option(
    "--raster-px",
    type=click.IntRange(64, 4096),
    default=768,
    show_default=True,
    help="Longest side of the coverage image redrawn after each edit (pixels).",
)
@session_options
@engine_options
def serve_cmd(
    scenario_dir: Path,
    host: str,
    port: int,
    open_browser: bool,
    raster_px: int,
    max_memory: str | None,
    max_towers: int | None,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Serve an interactive what-if map of a scenario on http://127.0.0.1:PORT/.

    Computes every tower's coverage once (the what-if session), then serves
    one page: click the map to add a tower, drag a tower to move it, click it
    to change its height, EIRP, frequency or technology or to delete it. The
    coverage layer and the village counts ("covered villages: X/Y") update
    after each edit, typically within a second; each edit recomputes only
    that tower. Nothing is written to disk (download the edited towers from
    the page's towers.csv link). Stop with Ctrl-C.

    The server listens on 127.0.0.1 only unless --host says otherwise, and
    accepts only small, validated JSON edits.

    \b
    Example:
      deadzone demo --out demo_out
      deadzone serve --scenario demo_out --model knife --port 0 --open
    """
    from deadzone.web.app import WhatIfApp, is_loopback, make_server

    del overwrite  # nothing is written
    if not is_loopback(host.strip("[]")):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can view and "
            "edit the session; use the default 127.0.0.1 unless you mean it",
            err=True,
        )
    scenario, session = whatif_session(scenario_dir, engine, quiet=quiet,
                                       max_memory=max_memory, max_towers=max_towers)
    app = WhatIfApp(
        session,
        max_raster_px=raster_px,
        status_labels=status_labels(engine.thresholds, list(session.coverage.by_tech)),
    )
    server = make_server(app, host=host, port=port)
    url = server.url
    if not quiet:
        for line in session.result.summary_lines()[:3]:
            click.echo(line)
    click.echo(f"serving {scenario.name} on {url} (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    click.echo("stopped")
