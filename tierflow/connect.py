"""Connecting to Temporal with Tierflow's data converter, and a clear error when it is not there."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError


class ServerUnreachableError(RuntimeError):
    """The Temporal server did not answer; the message says where we looked and what to do."""


async def connect(address: str, namespace: str, *, timeout: float = 10.0) -> Client:
    """Connect to ``address``; raise :class:`ServerUnreachableError` with a one-line message."""
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
