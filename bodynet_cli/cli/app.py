"""The ``bodynet`` command: wires the sub-commands, nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from bodynet_cli import __version__

app = typer.Typer(
    name="bodynet",
    help="BodyNet (Varol et al., ECCV 2018): one photo in, a 3D human body out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: the rich layout prints every flag with a "<bool>" value column, which reads as if
    # `--viz true` were the syntax (it would make "true" an input); plain help shows `--viz`, `--flip / --no-flip`.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bodynet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """BodyNet (Varol et al., ECCV 2018): one photo in, a 3D human body out."""


# Commands register here, one line each, only once they really work.
from bodynet_cli.cli import convert as convert_cmd  # noqa: E402
from bodynet_cli.cli import eval as eval_cmd  # noqa: E402
from bodynet_cli.cli import fit_smpl as fit_smpl_cmd  # noqa: E402
from bodynet_cli.cli import info  # noqa: E402
from bodynet_cli.cli import predict as predict_cmd  # noqa: E402
from bodynet_cli.cli import synth as synth_cmd  # noqa: E402
from bodynet_cli.cli import train as train_cmd  # noqa: E402
from bodynet_cli.cli import voxelize as voxelize_cmd  # noqa: E402

app.command("info")(info.info)
app.command("predict")(predict_cmd.predict)
app.command("eval")(eval_cmd.eval_command)
app.command("synth")(synth_cmd.synth)
app.command("train")(train_cmd.train)
app.command("voxelize")(voxelize_cmd.voxelize)
app.command("fit-smpl")(fit_smpl_cmd.fit_smpl)
app.command("convert")(convert_cmd.convert)


def main() -> None:
    app()
