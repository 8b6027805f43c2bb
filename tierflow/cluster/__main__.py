"""``python -m tierflow.cluster up|down|status``: the production-shaped cluster (docs/cluster.md)"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tierflow.cluster.layout import (
    DEFAULT_BASE_PORT,
    DEFAULT_SHARDS,
    MAX_BASE_PORT,
    Layout,
    default_run_dir,
)
from tierflow.cluster.postgres import PostgresUnavailableError
from tierflow.cluster.processes import Cluster, ClusterError
from tierflow.devserver import BinaryUnavailableError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _base_port(text: str) -> int:
    value = _positive(text)
    if not 1024 <= value <= MAX_BASE_PORT:
        raise argparse.ArgumentTypeError(
            f"must be from 1024 to {MAX_BASE_PORT} (the cluster uses the 50 ports from it, and "
            "Temporal keeps membership ports as a PostgreSQL smallint: at most 32767)"
        )
    return value


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m tierflow.cluster",
        description="A Temporal cluster on PostgreSQL on loopback, its frontend on mTLS.",
    )
    parse.add_argument("command", choices=("up", "down", "status"))
    parse.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="where certificates, logs and the client configuration live "
        "(default: TIERFLOW_CLUSTER_DIR or <cache>/cluster/run)",
    )
    parse.add_argument(
        "--base-port",
        type=_base_port,
        default=DEFAULT_BASE_PORT,
        help=f"the frontend's port; the others follow it (default {DEFAULT_BASE_PORT})",
    )
    parse.add_argument(
        "--shards",
        type=_positive,
        default=DEFAULT_SHARDS,
        help=f"history shards, fixed when the database is made (default {DEFAULT_SHARDS})",
    )
    parse.add_argument(
        "--purge", action="store_true", help="down: also remove the database (not the CA)"
    )
    return parse


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    layout = Layout(args.run_dir or default_run_dir(), args.base_port, args.shards)
    cluster = Cluster(layout)
    try:
        if args.command == "up":
            seconds = cluster.up()
            print(
                f"Cluster up in {seconds:.1f} s: frontend {layout.address} (mTLS), "
                f"{layout.shards} history shards.\nConnect with: . {layout.client_env_file}\n"
                f"Take it down with: python -m tierflow.cluster down"
            )
        elif args.command == "down":
            cluster.down(purge=args.purge)
            print("Cluster down: nothing of it runs.")
        else:
            for part, state in cluster.status().items():
                print(f"{part:12} {state}")
    except (ClusterError, PostgresUnavailableError, BinaryUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
