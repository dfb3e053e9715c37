"""The ``evalsuite`` command line: the Typer app, its commands and the exit-code mapping.

Each command lives in its own module of this package (``run``, ``tasks``, ``report`` and
``compare``, ``gate``) as a plain function; this module registers them, so no command module
imports the app and the packages they drive (``report``, ``gate``) never import the CLI.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Annotated

import typer

from evalsuite.cli import export as export_command
from evalsuite.cli import gate as gate_command
from evalsuite.cli import listing as listing_commands
from evalsuite.cli import report as report_commands
from evalsuite.cli import run as run_command
from evalsuite.cli import tasks as tasks_command
from evalsuite.cli import verify as verify_command
from evalsuite.errors import EXIT_OK, EXIT_USAGE, EvalsuiteError

app = typer.Typer(
    name="evalsuite",
    help="Evaluate NLP models for quality, cost, bias, safety and robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_state = {"debug": False}


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False
          ) -> None:
    _state["debug"] = debug


for command in (tasks_command.tasks, run_command.run, report_commands.report,
                report_commands.compare, gate_command.gate, export_command.export,
                verify_command.verify):
    app.command()(command)
app.add_typer(listing_commands.app, name="list")  # evalsuite list tasks|models|metrics|…


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, ``kill``): stop as Ctrl-C does, so the run folder says
    ``interrupted`` and finished records are kept."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors onto exit codes (0 ok, 1 failed, 2 usage)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return _run_app(argv)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run_app(argv: list[str] | None) -> int:
    from evalsuite.cli.console import error

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # our own bars only
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        result = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except EvalsuiteError as exc:
        if _state["debug"]:
            raise
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        error("terminated" if isinstance(exc, Terminated) else "interrupted")
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click usage errors
            exc.show()
            return EXIT_USAGE
        raise
    if isinstance(result, int):  # click returns the code of typer.Exit in this mode
        return result
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
