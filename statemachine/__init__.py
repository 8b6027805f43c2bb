"""Tierflow's pure domain core: tickets, the escalation policy, triage rules, the ticket state
machine and the SLA clock.

Deterministic and free of I/O (except reading policy files in ``load_policy`` and
``default_policy``), so it runs inside Temporal's workflow sandbox and unit-tests in microseconds.
It never reads the clock: the current time is always passed in.
"""

from tierflow.statemachine.calendar import BusinessCalendar, Weekday
from tierflow.statemachine.durations import Duration, format_duration, parse_duration
from tierflow.statemachine.errors import DomainError, InvalidAction, PolicyError, UnknownTarget
from tierflow.statemachine.escalation import EscalationReason, EscalationRecord, EscalationType
from tierflow.statemachine.machine import (
    ACTIONS,
    APPROVAL,
    CLOSED,
    NEW,
    RESOLVED,
    TRANSITIONS,
    TRIAGE,
    WAITING,
    MachineState,
    TicketMachine,
    mermaid,
)
from tierflow.statemachine.policy import (
    ROLES,
    EscalationActionKind,
    EscalationLevel,
    EscalationPolicy,
    FollowUp,
    NotifyChannel,
    NotifySettings,
    Policy,
    Recipient,
    Recipients,
    Role,
    SlaPolicy,
    SlaTargets,
    Team,
    Tier,
    default_policy,
    demo_policy,
    load_policy,
    parse_policy,
    policy_from_data,
)
from tierflow.statemachine.rules import (
    Action,
    Condition,
    FiredRule,
    RoutingRule,
    TriageResult,
    triage,
)
from tierflow.statemachine.sla import ClockEvent, SlaClock, SlaTarget, TargetClock, TargetStatus
from tierflow.statemachine.ticket import Channel, Customer, CustomerStatus, Priority, Ticket

__all__ = [
    "ACTIONS",
    "APPROVAL",
    "CLOSED",
    "NEW",
    "RESOLVED",
    "ROLES",
    "TRANSITIONS",
    "TRIAGE",
    "WAITING",
    "Action",
    "BusinessCalendar",
    "Channel",
    "ClockEvent",
    "Condition",
    "Customer",
    "CustomerStatus",
    "DomainError",
    "Duration",
    "EscalationActionKind",
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationReason",
    "EscalationRecord",
    "EscalationType",
    "FiredRule",
    "FollowUp",
    "InvalidAction",
    "MachineState",
    "NotifyChannel",
    "NotifySettings",
    "Policy",
    "PolicyError",
    "Priority",
    "Recipient",
    "Recipients",
    "Role",
    "RoutingRule",
    "SlaClock",
    "SlaPolicy",
    "SlaTarget",
    "SlaTargets",
    "TargetClock",
    "TargetStatus",
    "Team",
    "Ticket",
    "TicketMachine",
    "Tier",
    "TriageResult",
    "UnknownTarget",
    "Weekday",
    "default_policy",
    "demo_policy",
    "format_duration",
    "load_policy",
    "mermaid",
    "parse_duration",
    "parse_policy",
    "policy_from_data",
    "triage",
]
