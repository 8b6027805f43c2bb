"""A host application's own workflow and activity, under the names Tierflow used before its
type names were namespaced ("Ticket", "dispatch_effects"). A module of its own: the sandbox
re-imports a workflow's module, and this one imports nothing but Temporal."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="dispatch_effects")
async def host_dispatch_effects(order: str) -> str:
    """The host's own activity, under a name Tierflow once used."""
    return f"shipped {order}"


@workflow.defn(name="Ticket")
class HostTicket:
    """The host's own workflow type named "Ticket" (a train ticket, say)."""

    @workflow.run
    async def run(self, order: str) -> str:
        return await workflow.execute_activity(
            host_dispatch_effects, order, start_to_close_timeout=timedelta(seconds=10)
        )
