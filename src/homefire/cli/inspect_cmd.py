"""`homefire inspect MODEL.gguf`: what a model file contains, without loading it."""

from __future__ import annotations

import json
from typing import Any

import click

from homefire.cli._common import debug_option
from homefire.cli._words import argument


@click.command("inspect")
@argument("model", required=False, sets=("path", "model_path"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@debug_option
def command(model: str | None, as_json: bool) -> None:
    """Show what the GGUF file MODEL (default: the embedded model) contains: architecture,
    size, context, heads, template."""
    from homefire.modelfiles.embedded import embedded_model_path
    from homefire.modelfiles.gguf import read_model_file
    from homefire.planner.report import describe_model

    facts = describe_model(read_model_file(model if model is not None else embedded_model_path()))
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    _print_table(facts)


def _print_table(facts: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from homefire.planner.hardware import format_size

    table = Table(title=facts["path"], show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    shown = {
        **facts,
        "file_size": format_size(facts["file_size"]),
        "parameters": f"{facts['parameters'] / 1e6:,.1f} M",
        "tensor_types": ", ".join(f"{k}×{v}" for k, v in facts["tensor_types"].items()),
    }
    for key, value in shown.items():
        if key == "path" or value is None:
            continue
        table.add_row(key.replace("_", " "), str(value))
    Console().print(table)
