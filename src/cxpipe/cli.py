"""The ``cxpipe`` command: run a config, run the demo, list plugins.

Errors that are the input's fault (:class:`cxpipe.errors.CxpipeError`) print as one clear
message and exit 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from cxpipe.errors import CxpipeError
from cxpipe.report import accounting_rows, attention_lines, headline_rows

app = typer.Typer(
    help="cxpipe: how your clients actually experience IT, as Parquet your BI tools read.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except CxpipeError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(2) from None


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    with console.status("starting") as status:
        yield status.update


def _report(
    values: pl.DataFrame, manifest: dict[str, Any], root: str, scorecard: str | None = None
) -> None:
    headlines = Table(title=f"Headline metrics (all clients, latest period) — outputs in {root}")
    for column, justify in [
        ("metric", "left"),
        ("period", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("n", "right"),
    ]:
        headlines.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in headline_rows(values):
        headlines.add_row(
            row["metric"],
            str(row["period_start"]),
            f"{row['value']:.1f}",
            row["unit"],
            str(row["sample_size"]),
        )
    out.print(headlines)
    accounting = Table(title="Row accounting (rows read = kept + quarantined)")
    for column in ("source", "entity", "read", "kept", "quarantined"):
        accounting.add_column(column, justify="left" if column in ("source", "entity") else "right")
    for row in accounting_rows(manifest):
        accounting.add_row(*(str(value) for value in row.values()))
    out.print(accounting)
    for line in attention_lines(manifest):
        out.print(line, highlight=False)
    for source in manifest["sources"]:
        for warning in source["warnings"]:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    out.print(f"Run {manifest['run_id']}: manifest at {root}/_runs/{manifest['run_id']}.json")
    out.print(f"Read it back: duckdb -c \"select * from '{root}/metric_values/*/*.parquet'\"")
    if scorecard:
        out.print(f"Scorecard (open in a browser): {scorecard}")


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Path to cxpipe.toml.")] = Path(
        "cxpipe.toml"
    ),
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output root; overrides [run].output.")
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh", help="Ignore committed watermarks: read incremental sources whole."
        ),
    ] = False,
) -> None:
    """Run the pipeline a config describes and write its Parquet outputs."""
    from cxpipe.config import load_config
    from cxpipe.run import run_pipeline

    with _user_errors():
        cfg = load_config(config)
        with _progress() as say:
            result = run_pipeline(cfg, output=output, progress=say, full_refresh=full_refresh)
    _report(result.metric_values, result.manifest, result.output_root, result.scorecard)


@app.command()
def demo(
    output: Annotated[str, typer.Option("--output", "-o", help="Output root.")] = "output",
    data: Annotated[
        Path, typer.Option("--data", help="Where to write the generated demo data.")
    ] = Path("demo-data"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
) -> None:
    """Generate the seeded demo data and run the pipeline on it."""
    from cxpipe.demo.config import demo_config
    from cxpipe.demo.generator import write_demo_files
    from cxpipe.run import run_pipeline

    with _user_errors():
        with console.status("generating demo data"):
            write_demo_files(data, seed)
        cfg = demo_config(data, output)
        with _progress() as say:
            result = run_pipeline(cfg, progress=say)
    _report(result.metric_values, result.manifest, result.output_root, result.scorecard)


@app.command()
def plugins(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Also load the config's plugins_dir.")
    ] = None,
) -> None:
    """List every loaded plugin, where it came from, and what it registered."""
    from cxpipe.config import load_config
    from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager

    with _user_errors():
        plugins_dir = load_config(config).plugins_path if config else None
        pm = get_plugin_manager(plugins_dir=plugins_dir)
        registry = build_registry(pm)
    blocked = os.environ.get("CXPIPE_DISABLED_PLUGINS", "")
    table = Table(title="Loaded cxpipe plugins")
    table.add_column("plugin")
    table.add_column("from")
    table.add_column("registers")
    for plugin in describe_plugins(pm):
        registered = [
            f"{r.kind} {r.name}" for r in registry.registrations if r.plugin == plugin.name
        ]
        table.add_row(plugin.name, plugin.origin, "\n".join(registered) or "(hooks only)")
    out.print(table)
    if blocked:
        out.print(f"Blocked by CXPIPE_DISABLED_PLUGINS: {blocked}")


@app.command()
def dictionary(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Also document the config's plugins.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (else print).")
    ] = None,
) -> None:
    """Print (or write) the data dictionary: every output table, column and metric."""
    from cxpipe.config import load_config
    from cxpipe.dictionary import render_dictionary
    from cxpipe.plugins import build_registry, get_plugin_manager

    with _user_errors():
        plugins_dir = load_config(config).plugins_path if config else None
        registry = build_registry(get_plugin_manager(plugins_dir=plugins_dir))
    text = render_dictionary(registry)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")


@app.command()
def scorecard(
    output_root: Annotated[
        str, typer.Argument(help="Output root of a run (a folder or an s3:// URL).")
    ] = "output",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here (else scorecards/<run_id>.html)."),
    ] = None,
) -> None:
    """Render the latest run's HTML scorecard again from its output root."""
    from cxpipe.scorecard import write_scorecard

    with _user_errors():
        where = write_scorecard(output_root, None if output is None else str(output))
    out.print(f"wrote {where}")


def main() -> None:
    app(prog_name="cxpipe")


if __name__ == "__main__":  # pragma: no cover
    main()
