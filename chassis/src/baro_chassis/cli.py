"""`baro`: the project's command line (`uv run baro --help`)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from baro_chassis.auth import Role, issue_token
from baro_chassis.settings import DEV_ONLY_JWT_SECRET

REPLAYABLE = ("scoring", "reporting")


def _token(args: argparse.Namespace) -> int:
    if not args.role and not args.registration:
        print("give --role ROLE or --registration ID", file=sys.stderr)
        return 2
    secret = os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET)
    print(
        issue_token(
            secret,
            roles=tuple(Role(r) for r in args.role),
            registration_id=args.registration,
            subject=args.subject,
            ttl=timedelta(hours=args.hours),
        )
    )
    return 0


def _up(args: argparse.Namespace) -> int:
    from baro_chassis.stack import up

    return up(Path(args.data_dir).resolve(), nats_cluster=args.nats_cluster)


def _hand_over(service: str, command: str, arguments: list[str]) -> int:
    """Run the service's own command (the chassis imports no service)."""
    script = Path(sysconfig.get_path("scripts")) / f"baro-{service}"
    if not script.exists():
        print(f"the {service} service is not installed here", file=sys.stderr)
        return 2
    return subprocess.call([str(script), command, *arguments])


def _replay(args: argparse.Namespace) -> int:
    return _hand_over(args.service, "replay", args.arguments)


def _reports(args: argparse.Namespace) -> int:
    return _hand_over("reporting", args.action, args.arguments)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="baro", description="Citizen Experience Barometer")
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print a bearer token for the local stack")
    token.add_argument("--role", action="append", default=[], choices=[r.value for r in Role])
    token.add_argument("--registration", type=UUID, help="a structure token for this registration")
    token.add_argument("--subject", help="who the token is for (default: the role)")
    token.add_argument("--hours", type=float, default=12.0, help="validity (default 12)")
    token.set_defaults(run=_token)

    stack = sub.add_parser("up", help="run the whole backend locally (Ctrl-C stops it)")
    stack.add_argument("--data-dir", default=".data", help="where the servers keep their data")
    stack.add_argument(
        "--nats-cluster",
        type=int,
        default=int(os.environ.get("BARO_NATS_CLUSTER", "0")),
        metavar="N",
        help="run embedded NATS as a JetStream cluster of N nodes (3 or more; streams R3 "
        "unless BARO_STREAM_REPLICAS says otherwise); default BARO_NATS_CLUSTER or one server",
    )
    stack.set_defaults(run=_up)

    replay = sub.add_parser(
        "replay",
        help="rebuild a service's results from the retained streams "
        "(`baro replay scoring --edition 2027 [--swap]`, `baro replay reporting --edition "
        "2027`; `baro-scoring replay -h` for more)",
    )
    replay.add_argument("service", choices=REPLAYABLE)
    replay.add_argument("arguments", nargs=argparse.REMAINDER)
    replay.set_defaults(run=_replay)

    reports = sub.add_parser(
        "reports",
        help="render an edition's reports (`baro reports build --edition 2027`; "
        "`baro-reporting build -h` for more)",
    )
    reports.add_argument("action", choices=("build",))
    reports.add_argument("arguments", nargs=argparse.REMAINDER)
    reports.set_defaults(run=_reports)

    args = parser.parse_args(argv)
    sys.exit(args.run(args))
