"""``printfleet estimate FILE... --profile PROFILE.ini [--json] [--slice] [--config FLEET.yaml]``.

This module imports only typer at import time (the CLI registers the command cheaply); numpy and the model
load when the command runs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)


def _fmt_time(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def _load_printers(config: Path | None):
    """Printers of the fleet file: ``--config``, else ``PRINTFLEET_CONFIG`` / the default file when it exists."""
    from printfleet.config import load_fleet
    from printfleet.estimate import printers_from_fleet

    if config is None:
        env = os.environ.get("PRINTFLEET_CONFIG")
        candidate = Path(env) if env else Path("configs/printers.yaml")
        if not candidate.is_file():
            return None
        config = candidate
    return printers_from_fleet(load_fleet(config))


def estimate(
    files: Annotated[
        list[Path], typer.Argument(help="STL (binary or ASCII) or G-code files", show_default=False)
    ],
    profile: Annotated[Path, typer.Option("--profile", "-p", help="PrusaSlicer .ini profile")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    slice_: Annotated[
        bool, typer.Option("--slice", help="also slice with PrusaSlicer and report its figures")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="fleet file, for the fit check")] = None,
    max_mb: Annotated[float, typer.Option("--max-mb", help="refuse files larger than this (MB)")] = 512.0,
) -> None:
    """Estimate print time and filament of models without slicing (or exactly, with --slice)."""
    from printfleet.errors import UserError
    from printfleet.estimate import Estimate, estimate_files, load_profile, slice_model

    loaded = load_profile(profile)
    printers = _load_printers(config)
    results: list[Estimate] = []
    failures: list[str] = []
    max_bytes = int(max_mb * 1e6)

    def fail(exc: UserError) -> None:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        failures.append(message)
        typer.echo(f"printfleet: {message}", err=True)

    # Files are estimated on a thread pool (one per core); results come back in the order given.
    for path, est in estimate_files(files, loaded, printers=printers, max_bytes=max_bytes):
        if isinstance(est, UserError):
            fail(est)
            continue
        if slice_ and est.source == "model":
            try:
                with tempfile.TemporaryDirectory(prefix="printfleet-slice-") as tmp:
                    res = slice_model(path, profile, Path(tmp) / "out.gcode")
            except UserError as exc:
                fail(exc)
                continue
            est.extra.update(
                slicer_print_time_s=res.print_time_s,
                slicer_filament_mm=res.filament_mm,
                slicer_filament_g=res.filament_g,
                slice_s=round(res.elapsed_s, 2),
            )
        results.append(est)
        if as_json:
            sys.stdout.write(json.dumps(est.to_dict()) + "\n")
            sys.stdout.flush()
    if not as_json and results:
        _print_table(results, show_fits=printers is not None, sliced=slice_)
    if failures:
        raise typer.Exit(2)


def _print_table(results, *, show_fits: bool, sliced: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="print estimates")
    table.add_column("file", overflow="fold")
    table.add_column("triangles", justify="right")
    table.add_column("bbox mm", justify="right")
    table.add_column("time", justify="right")
    table.add_column("filament", justify="right")
    if sliced:
        table.add_column("slicer time", justify="right")
        table.add_column("slicer filament", justify="right")
    if show_fits:
        table.add_column("fits")
    table.add_column("warnings")
    for est in results:
        row = [
            Path(est.file).name,
            str(est.triangles) if est.triangles is not None else "-",
            " x ".join(f"{v:.1f}" for v in est.bbox_mm) if est.bbox_mm else "-",
            _fmt_time(est.print_time_s),
            f"{est.filament_g:.1f} g / {est.filament_mm / 1000:.2f} m",
        ]
        if sliced:
            if "slicer_print_time_s" in est.extra:
                g = est.extra.get("slicer_filament_g")
                row += [
                    _fmt_time(est.extra["slicer_print_time_s"]),
                    f"{g:.1f} g" if g is not None else f"{est.extra['slicer_filament_mm'] / 1000:.2f} m",
                ]
            else:
                row += ["-", "-"]
        if show_fits:
            row.append(", ".join(est.fits or ()) or "none")
        row.append("; ".join(w.split(":")[0].split(" (")[0] for w in est.warnings))
        table.add_row(*row)
    Console().print(table)
