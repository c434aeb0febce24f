"""`nas-explorer`: with no subcommand it opens the app; subcommands script the same core.

Every subcommand module in `explorer/commands/` exposes `register(subparsers)`. Exit codes:
0 success, 1 an invalid graph (`arch validate`), 2 bad input (an ExplorerError, a usage error or a
file that cannot be read or written: one line on stderr), 3 an internal error (a bug: one line
naming the exception; `--debug` prints the traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from .errors import ExplorerError, one_line

EXIT_INTERNAL = 3


def _command_modules():
    """The subcommand families, each a module with `register(subparsers)`."""
    from .commands import arch, estimate, export, latency, score, search, spaces, supernet

    return (arch, spaces, score, latency, supernet, search, export, estimate)


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
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error (exit code 3)"
    )
    parser.add_argument("--open", metavar="FILE", help="architecture or project file to open in the app")
    parser.add_argument(
        "--screenshot", metavar="PATH", help="start the app, wait for live metrics, save a PNG and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        module.register(sub)
    return parser


def _safe_streams() -> None:
    """Text that cannot be encoded (a lone surrogate from a file, an undecodable byte of a path
    from argv) prints escaped instead of raising UnicodeEncodeError half way through the output."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream
                pass


def _error(message: str) -> None:
    print(one_line(f"nas-explorer: {message}"), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    _safe_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from .gui.launch import run_app

            return run_app(open_path=args.open, screenshot=args.screenshot)
        return int(args.handler(args) or 0)
    except ExplorerError as e:
        _error(f"error: {e}")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("nas-explorer: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a path that cannot be read or written, a full disk: the user's to fix
        where = f"{e.filename}: " if e.filename else ""
        _error(f"error: {where}{e.strerror or e}")
        return 2
    except Exception as e:  # a bug: one line (and the traceback only when asked for)
        if args.debug:
            traceback.print_exc()
        _error(f"internal error: {type(e).__name__}: {e}")
        if not args.debug:
            print("(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
