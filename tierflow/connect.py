"""Connecting to Temporal with Tierflow's data converter, and a clear error when it is not there."""

from __future__ import annotations

import re
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError


class ServerUnreachableError(RuntimeError):
    """The Temporal server did not answer; the message says where we looked and what to do."""


# A host name, an IPv4 address or a bracketed IPv6 address.
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")


def address_problem(address: str) -> str | None:
    """What is wrong with a ``host:port`` address, or None when it is well formed."""
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return "expected host:port, e.g. localhost:7233"
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        return "the port must be a number from 1 to 65535"
    if not _HOST.fullmatch(host):
        return "the host must be a host name, an IPv4 address or a [bracketed] IPv6 address"
    return None


async def connect(address: str, namespace: str, *, timeout: float = 10.0) -> Client:
    """Connect to ``address``; raise :class:`ServerUnreachableError` with a one-line message."""
    problem = address_problem(address)
    if problem is not None:
        shown = address if len(address) <= 60 else address[:59] + "…"
        raise ServerUnreachableError(f"invalid Temporal address {shown!r}: {problem}")
    try:
        client = await Client.connect(
            address,
            namespace=namespace,
            data_converter=pydantic_data_converter,
            connect_timeout=timedelta(seconds=timeout),
        )
        # Connecting does not check the namespace; describing it proves the server serves it.
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except (RuntimeError, RPCError, OSError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ServerUnreachableError(
            f"cannot reach the Temporal server at {address} (namespace {namespace!r}): {detail}. "
            "Start one with `tierflow server` or set TIERFLOW_TEMPORAL_ADDRESS."
        ) from err
    return client
