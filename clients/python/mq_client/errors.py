"""Exceptions of mq_client (server errors come as psycopg's own exceptions)."""
from __future__ import annotations

import psycopg
from psycopg import errors as pgerrors


class MQError(Exception):
    """Base class of the errors mq_client raises itself."""


class ConnectionLost(MQError):
    """The connection broke while a statement that is not safe to repeat was
    in flight (an append, or a send without a dedup key): it may or may not
    have committed."""


class RequestTimeout(MQError, TimeoutError):
    """No reply came to a request within its timeout."""


# a server shutting down or starting, one that cannot write (a standby, a
# read-only transaction)
_RECONNECT_STATES = frozenset(("57P01", "57P02", "57P03", "25006"))


def is_connection_error(exc: BaseException) -> bool:
    """A lost or refused connection (no SQLSTATE, or class 08), a server
    shutting down or starting, or a server that cannot write: try another
    connection.  Errors of the statement itself (a full queue, a fencing
    error, a cancel) are not."""
    if not isinstance(exc, psycopg.Error):
        return False
    state = getattr(exc, "sqlstate", None)
    if state is None:
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
    return state.startswith("08") or state in _RECONNECT_STATES


def is_fencing_error(exc: BaseException) -> bool:
    """A stream commit refused because the consumer no longer holds the
    partition (55000, object_not_in_prerequisite_state)."""
    return isinstance(exc, pgerrors.ObjectNotInPrerequisiteState)
