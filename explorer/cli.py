"""`nas-explorer`: with no subcommand it opens the app; subcommands script the same core.

Every subcommand module in `explorer/commands/` exposes `register(subparsers)`. Errors caused by
user input (ExplorerError) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ExplorerError

COMMAND_MODULES = (
    "explorer.commands.arch",
    "explorer.commands.spaces",
    "explorer.commands.score",
    "explorer.commands.latency",
    "explorer.commands.supernet",
    "explorer.commands.search",
    "explorer.commands.export",
    "explorer.commands.estimate",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2 (its own convention)."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nas-explorer",
        description="NAS Explorer: draw or sample architectures, see proxies and latency per device.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__import__('explorer').__version__}"
    )
    parser.add_argument("--open", metavar="FILE", help="architecture or project file to open in the app")
    parser.add_argument(
        "--screenshot", metavar="PATH", help="start the app, wait for live metrics, save a PNG and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a command family not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from .gui.launch import run_app

            return run_app(open_path=args.open, screenshot=args.screenshot)
        return int(args.handler(args) or 0)
    except ExplorerError as e:
        print(f"nas-explorer: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("nas-explorer: interrupted", file=sys.stderr)
        return 130
