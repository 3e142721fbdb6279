"""``deadzone report`` and ``deadzone export``: planner outputs from an audit folder."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["export_cmd", "report_cmd"]

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("report", short_help="Self-contained HTML report of an audit folder.")
@click.option(
    "--audit",
    "audit_dir",
    type=_DIR,
    required=True,
    help="Audit folder written by `deadzone audit` or `deadzone demo` (villages.csv, "
    "communes.csv, provinces.csv, summary.json; coverage.tif for the map figure).",
)
@click.option(
    "--out",
    "out_path",
    type=_FILE,
    required=True,
    help="File to write: .html (self-contained page) or .pdf (printed with headless Chromium).",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Also print the HTML report to a PDF beside it (same name, .pdf) with headless "
    "Chromium; a one-line error if no Chromium is installed.",
)
@click.option(
    "--progress",
    "progress_dir",
    type=_DIR,
    default=None,
    help="Optional `deadzone progress` output folder: adds the programme progress tables.",
)
@click.option(
    "--fiber",
    "fiber_dir",
    type=_DIR,
    default=None,
    help="Optional `deadzone fiber` output folder: adds the rollout phases.",
)
@click.option(
    "--placement",
    "placement_dir",
    type=_DIR,
    default=None,
    help="Optional `deadzone place` output folder: adds the proposed sites.",
)
@click.option(
    "--plan",
    "plan_dir",
    type=_DIR,
    default=None,
    help="Optional `deadzone plan` output folder: adds the programme plan (years, options, "
    "sites, the costs used).",
)
@click.option("--title", default=None, help="Page title (default: 'Coverage audit: <scenario>').")
@click.option("--overwrite", is_flag=True, help="Replace an existing report file.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def report_cmd(
    audit_dir: Path,
    out_path: Path,
    progress_dir: Path | None,
    fiber_dir: Path | None,
    placement_dir: Path | None,
    plan_dir: Path | None,
    title: str | None,
    pdf: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Write one self-contained HTML (or PDF) report for provincial committees.

    The page holds the summary ("covered villages: X/Y (P%)"), counts by
    technology, a coverage map (received power in dBm, villages by status)
    and a per-commune coverage bar chart embedded as PNG, tables per province
    and commune (least covered first, top communes by dead villages), and the
    not-covered villages by reason.  With --progress / --fiber / --placement
    / --plan it adds those programmes' summary tables (with --fiber, a figure of the
    routes by phase).  No remote resource is referenced: the file opens
    offline and can be mailed as is.  --out report.pdf or --pdf prints it
    with headless Chromium (Debian `chromium`, or $DEADZONE_CHROMIUM).

    \b
    Example:
      deadzone demo --out demo_out
      deadzone report --audit demo_out --out demo_out/report.html
      deadzone report --audit demo_out --fiber fiber_out --out report.pdf
    """
    from deadzone.maps.report import write_report

    out = write_report(
        audit_dir,
        out_path,
        overwrite=overwrite,
        progress_dir=progress_dir,
        fiber_dir=fiber_dir,
        placement_dir=placement_dir,
        plan_dir=plan_dir,
        title=title,
        pdf=pdf,
    )
    if not quiet:
        click.echo(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB)")
        if pdf and out.suffix.lower() != ".pdf":
            p = out.with_suffix(".pdf")
            click.echo(f"report: {p} ({p.stat().st_size / 1e6:.1f} MB)")


@click.command("export", short_help="KML/KMZ villages and a QGIS style from an audit folder.")
@click.option(
    "--audit",
    "audit_dir",
    type=_DIR,
    required=True,
    help="Audit folder written by `deadzone audit` or `deadzone demo`.",
)
@click.option(
    "--kml",
    "kml_path",
    type=_FILE,
    default=None,
    help="Villages for Google Earth: .kmz (zipped) or .kml; one placemark per village, "
    "coloured by status, with commune, population, best dBm and reason.",
)
@click.option(
    "--qml",
    "qml_path",
    type=_FILE,
    default=None,
    help="QGIS style for the audit's signal_<tech>_dbm.tif (the --tech metric: received "
    "level for 2G/3G, RSRP for 4G/5G): dead / marginal / covered classes at the audit's "
    "thresholds for that technology, the rule the village statuses use.",
)
@click.option(
    "--tech",
    type=click.Choice(["2G", "3G", "4G", "5G"]),
    default=None,
    help="Technology whose metric and thresholds give the QML class breaks "
    "[default: the audit's technology; with several, the audit's --default-tech if its "
    "towers have it, else the first of 2G, 3G, 4G, 5G they have].",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def export_cmd(
    audit_dir: Path,
    kml_path: Path | None,
    qml_path: Path | None,
    tech: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Export an audit for desktop tools (Google Earth, QGIS).

    \b
    Example:
      deadzone export --audit demo_out --kml villages.kmz --qml coverage.qml
    Then in QGIS open demo_out/signal_<tech>_dbm.tif (the file named on the
    output line) and load coverage.qml as its style.
    """
    from deadzone.errors import ParameterError
    from deadzone.maps.export_kml import write_kml, write_qml
    from deadzone.maps.figures import read_audit_folder

    if kml_path is None and qml_path is None:
        raise ParameterError("nothing to export: give --kml and/or --qml")
    a = read_audit_folder(audit_dir)
    written = []
    if kml_path is not None:
        name = f"deadzone villages: {a.summary.get('scenario') or a.path.name}"
        written.append(write_kml(a.villages, kml_path, name=name, overwrite=overwrite))
    notes = []
    if qml_path is not None:
        from deadzone.geo.export import signal_raster_name

        techs = audit_techs(a.path, a.summary)
        tech = tech or default_tech(techs, a.summary)
        thr = (a.summary.get("parameters") or {}).get("thresholds")
        written.append(write_qml(qml_path, thr, tech=tech, overwrite=overwrite))
        raster = a.path / signal_raster_name(tech)
        if techs and tech not in techs:
            notes.append(f"note: the audit's towers are {', '.join(techs)}; no {tech} raster")
        elif not raster.is_file():
            notes.append(f"note: {raster} is missing (audit written by an older deadzone); "
                         "re-run `deadzone audit` to get it")
        notes.append(f"style for {raster} ({tech}; the audit's technologies: "
                     f"{', '.join(techs) or 'unknown'})")
    if not quiet:
        for p in written:
            click.echo(f"wrote {p}")
        for line in notes:
            click.echo(line)


def audit_techs(folder: Path, summary: dict) -> list[str]:
    """Technologies of an audit: ``summary.json`` ``by_technology``, else ``servers.csv``."""
    from deadzone.model.schema import TECHS

    found = set((summary.get("by_technology") or {}).keys())
    if not found and (folder / "servers.csv").is_file():
        import pandas as pd

        found = set(pd.read_csv(folder / "servers.csv")["tech"].astype(str))
    return [t for t in TECHS if t in found]


def default_tech(techs: list[str], summary: dict) -> str:
    """The technology an export styles by default: the audit's own, not a fixed 2G.

    One technology: that one.  Several: the audit's ``--default-tech``
    (``summary.json`` ``input_options.default_tech``) when the towers have
    it, else the first of :data:`~deadzone.model.schema.TECHS` they have.  An
    audit with no technology recorded: its ``--default-tech``, else ``4G``
    (the ``audit --default-tech`` default).
    """
    chosen = (summary.get("input_options") or {}).get("default_tech")
    if techs:
        return chosen if chosen in techs else techs[0]
    return chosen if chosen in ("2G", "3G", "4G", "5G") else "4G"
