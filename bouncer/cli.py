"""The `bouncer` command line: argument parsing and exit codes, nothing more.

Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
Heavy modules are imported inside the handlers, so `bouncer parse` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bouncer import __version__
from bouncer.errors import BouncerError, ConfigError

if TYPE_CHECKING:
    from bouncer.config import Config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"bouncer: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="configuration file (default: $BOUNCER_CONFIG, then ./bouncer.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bouncer",
        description="Turns CRM bounce inboxes into delivery-failure records in PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"bouncer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="watch every configured folder and record what arrives")
    _add_config(run)
    run.add_argument("--once", action="store_true", help="process what is there now, then exit")

    parse = commands.add_parser("parse", help="analyse message files and print what they are")
    parse.add_argument("paths", nargs="+", metavar="PATH", help="a message file or a folder of them")
    parse.add_argument("--json", action="store_true", help="one JSON object per message and line")
    parse.add_argument("-c", "--config", metavar="FILE", help="take tracker.patterns from this configuration")

    check = commands.add_parser("check", help="test the configuration and every account")
    _add_config(check)
    check.add_argument("--config-only", action="store_true", help="validate the file; no network")
    check.add_argument("--account", metavar="NAME", help="check only this account")
    check.add_argument("--send-test", metavar="ADDRESS", help="send a real test message via SMTP")
    check.add_argument("--fix", action="store_true", help="create a missing processed_folder")
    check.add_argument("--json", action="store_true", help="print the results as JSON")

    db = commands.add_parser("db", help="database schema migrations")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True, parser_class=_Parser)
    for name, text in (("upgrade", "bring the schema up to date"), ("current", "show the schema version")):
        _add_config(db_commands.add_parser(name, help=text))

    report = commands.add_parser("report", help="what has been recorded, per tenant")
    _add_config(report)
    report.add_argument("--tenant", metavar="T", help="only this tenant")
    report.add_argument("--since", metavar="DATE", help="only messages processed since DATE (YYYY-MM-DD)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    return parser


def _load(path_arg: str | None) -> Config:
    from bouncer.config import load_config, resolve_config_path

    return load_config(resolve_config_path(path_arg))


def _configure_logging(config: Config | None) -> None:
    from bouncer.logs import configure_logging

    if config is None:
        configure_logging()
    else:
        configure_logging(config.logging.format, config.logging.level)


def _message_files(paths: Sequence[str]) -> Iterator[tuple[str, Path]]:
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                yield str(found), found
        elif path.is_file():
            yield given, path
        else:
            raise BouncerError(f"{given}: no such file or folder")


def cmd_parse(args: argparse.Namespace) -> int:
    from bouncer.analysis import AnalysisOptions, analyse
    from bouncer.analysis.summary import summarise

    options = AnalysisOptions()
    if args.config:
        import re

        config = _load(args.config)
        options = AnalysisOptions(tracker_patterns=tuple(re.compile(p) for p in config.tracker.patterns))
    out = sys.stdout
    for source, path in _message_files(args.paths):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BouncerError(f"{source}: cannot read: {exc.strerror}") from None
        analysis = analyse(raw, options)
        if args.json:
            out.write(json.dumps(analysis.to_contract(source), ensure_ascii=False) + "\n")
        else:
            out.write(summarise(source, analysis) + "\n")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio  # here, not at the top: `bouncer parse` needs no event loop (~60 ms of imports)

    from bouncer.check import describe_config, run_checks

    config = _load(args.config)
    if args.config_only:
        print(describe_config(config))
        return EXIT_OK
    _configure_logging(config)
    return asyncio.run(run_checks(config, args))


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from bouncer.config import resolve_config_path
    from bouncer.daemon import run_daemon

    path = resolve_config_path(args.config)
    config = _load(args.config)
    _configure_logging(config)
    return asyncio.run(run_daemon(config, path, once=args.once))


def cmd_db(args: argparse.Namespace) -> int:
    import asyncio

    from bouncer.store.migrate import current, upgrade

    config = _load(args.config)
    _configure_logging(config)
    action = upgrade if args.db_command == "upgrade" else current
    print(asyncio.run(action(config.database)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio

    from bouncer.store.report import print_report

    config = _load(args.config)
    _configure_logging(config)
    return asyncio.run(print_report(config, args, sys.stdout))


HANDLERS = {"run": cmd_run, "parse": cmd_parse, "check": cmd_check, "db": cmd_db, "report": cmd_report}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return HANDLERS[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"bouncer: {problem}\n")
        return EXIT_USAGE
    except BouncerError as exc:
        sys.stderr.write(f"bouncer: {exc}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        sys.stderr.write(f"bouncer: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)\n")
        return EXIT_FAILURE
