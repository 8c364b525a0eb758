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


def is_connection_error(exc: BaseException) -> bool:
    """A lost connection, a server shutting down or starting, or a server
    that cannot write (a standby, a read-only transaction): try another
    connection."""
    if isinstance(exc, pgerrors.ReadOnlySqlTransaction):
        return True
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
        exc, (pgerrors.QueryCanceled, pgerrors.LockNotAvailable))


def is_fencing_error(exc: BaseException) -> bool:
    """A stream commit refused because the consumer no longer holds the
    partition (55000, object_not_in_prerequisite_state)."""
    return isinstance(exc, pgerrors.ObjectNotInPrerequisiteState)
