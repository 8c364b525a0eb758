"""SQL statements and row conversions shared by the sync and asyncio clients.

Every statement names its parameters (``name => %s``) from a fixed list, so
no caller-supplied text ever becomes SQL: queue names, keys and bodies are
always parameters.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from psycopg.types.json import Jsonb

Duration = Union[int, float, datetime.timedelta]
Query = Tuple[str, Tuple[Any, ...]]

OCTET_STREAM = "application/octet-stream"
_BINARY = (bytes, bytearray, memoryview)
TEXT_PLAIN = "text/plain; charset=utf-8"


class Json:
    """Send a value as a JSON body even when it is a ``str``.

    ``send(queue, "hi")`` sends the text as a payload (``text/plain``);
    ``send(queue, Json("hi"))`` sends the JSON string ``"hi"``.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Json({self.value!r})"


MESSAGE_COLUMNS = ("msg_id", "read_ct", "enqueued_at", "vt", "priority", "group_key",
                   "dedup_key", "headers", "body", "payload", "content_type",
                   "content_encoding", "correlation_id", "reply_to", "expires_at", "sent_by")
RECORD_COLUMNS = ("partition", "position", "key", "headers", "body", "appended_at",
                  "payload", "content_type", "content_encoding", "correlation_id",
                  "reply_to", "sent_by")


def _text_of(payload: Optional[bytes], content_type: Optional[str]) -> Optional[str]:
    if payload is None or content_type is None or not content_type.startswith("text/"):
        return None
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"')
    return payload.decode(charset)


@dataclass(frozen=True)
class Message:
    """A message leased by :meth:`Client.read` (the columns of ``mq.message``)."""

    queue: str
    msg_id: int
    read_ct: int
    enqueued_at: datetime.datetime
    vt: datetime.datetime
    priority: int
    group_key: Optional[str]
    dedup_key: Optional[str]
    headers: Optional[Dict[str, Any]]
    body: Any
    payload: Optional[bytes]
    content_type: Optional[str]
    content_encoding: Optional[str]
    correlation_id: Optional[str]
    reply_to: Optional[str]
    expires_at: Optional[datetime.datetime]
    sent_by: Optional[str]

    @property
    def text(self) -> Optional[str]:
        """The payload decoded, for a ``text/*`` content type (else None)."""
        return _text_of(self.payload, self.content_type)

    @property
    def value(self) -> Any:
        """The body, the payload's text (``text/*``) or the payload's bytes."""
        if self.payload is None:
            return self.body
        text = self.text
        return text if text is not None else self.payload


@dataclass(frozen=True)
class Record:
    """A stream record from a consumer group's poll (``mq.stream_record``)."""

    stream: str
    partition: int
    position: int
    key: Optional[str]
    headers: Optional[Dict[str, Any]]
    body: Any
    appended_at: datetime.datetime
    payload: Optional[bytes]
    content_type: Optional[str]
    content_encoding: Optional[str]
    correlation_id: Optional[str]
    reply_to: Optional[str]
    sent_by: Optional[str]

    @property
    def text(self) -> Optional[str]:
        return _text_of(self.payload, self.content_type)

    @property
    def value(self) -> Any:
        if self.payload is None:
            return self.body
        text = self.text
        return text if text is not None else self.payload


def message_of(queue: str, row: Sequence[Any]) -> Message:
    return Message(queue, *row)


def record_of(stream: str, row: Sequence[Any]) -> Record:
    return Record(stream, *row)


def interval(value: Optional[Duration]) -> Optional[datetime.timedelta]:
    """Seconds (int or float) or a timedelta, as an interval parameter."""
    if value is None or isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a duration is seconds (int or float) or a timedelta, not {value!r}")
    return datetime.timedelta(seconds=value)


Encoded = Tuple[Optional[Jsonb], Optional[bytes], Optional[str]]


def encode_body(body: Any, content_type: Optional[str]) -> Encoded:
    """(jsonb body, payload, content type) of a body given to send."""
    if isinstance(body, _BINARY):
        return None, bytes(body), content_type or OCTET_STREAM
    if isinstance(body, str):
        return None, body.encode("utf-8"), content_type or TEXT_PLAIN
    if content_type is not None:
        raise ValueError("content_type is for bytes or str bodies; a JSON body has none")
    if isinstance(body, Json):
        body = body.value
    return Jsonb(body), None, None


# the send properties, in the order of mq.send's parameters, and which are intervals
SEND_PROPERTIES = ("headers", "delay", "dedup_key", "group_key", "priority", "content_type",
                   "content_encoding", "correlation_id", "reply_to", "ttl")
_INTERVALS = {"delay", "ttl", "visibility_timeout", "message_ttl", "dedup_window", "retention",
              "rate_interval", "wait", "session_timeout"}
QUEUE_OPTIONS = ("visibility_timeout", "max_receives", "dead_letter_queue", "message_ttl",
                 "max_length", "overflow", "fifo", "dedup_window", "archive", "retention",
                 "unlogged", "notify", "fair", "group_concurrency", "rate_limit", "rate_interval",
                 "group_rate_limit", "durability", "min_replicas")
STREAM_OPTIONS = ("partitions", "retention", "retention_bytes", "unlogged", "durability",
                  "min_replicas")


def _param(name: str, value: Any) -> Any:
    if name in _INTERVALS:
        return interval(value)
    if name == "headers" and value is not None:
        return Jsonb(dict(value))
    return value


def call(function: str, positional: Sequence[Any], named: Mapping[str, Any],
         allowed: Sequence[str], returns: str = "",
         always: Sequence[Tuple[str, Any]] = ()) -> Query:
    """``SELECT [returns FROM] mq.function(%s, ..., name => %s, ...)``: the
    positional parameters, then those of always, then the named ones given
    (not None) out of allowed."""
    unknown = [k for k in named if k not in allowed]
    if unknown:
        raise TypeError(f"mq.{function}() has no option {', '.join(sorted(unknown))}")
    args = ["%s"] * len(positional)
    params: List[Any] = list(positional)
    for name, value in always:
        args.append(f"{name} => %s")
        params.append(value)
    for name in allowed:
        if name in named and named[name] is not None:
            args.append(f"{name} => %s")
            params.append(_param(name, named[name]))
    what = returns or "*"
    return f"SELECT {what} FROM mq.{function}({', '.join(args)})", tuple(params)


def send(queue: str, body: Any, props: Mapping[str, Any]) -> Query:
    jbody, payload, ctype = encode_body(body, props.get("content_type"))
    named = dict(props)
    named["content_type"] = ctype
    return call("send", (queue,), named, SEND_PROPERTIES,
                always=(("body", jbody), ("payload", payload)))


def send_batch(queue: str, bodies: Sequence[Any], props: Mapping[str, Any]) -> Query:
    """One statement for many messages; per-message properties are lists."""
    per_message = {"headers", "dedup_keys", "group_keys", "correlation_ids"}
    shared = {"delay", "priority", "reply_to", "ttl", "content_encoding"}
    unknown = set(props) - per_message - shared - {"content_type"}
    if unknown:
        raise TypeError(f"send_batch() has no option {', '.join(sorted(unknown))}")
    jbodies: List[Optional[Jsonb]] = []
    payloads: List[Optional[bytes]] = []
    ctypes: List[Optional[str]] = []
    for b in bodies:
        ctype = props.get("content_type") if isinstance(b, _BINARY + (str,)) else None
        j, p, c = encode_body(b, ctype)
        jbodies.append(j)
        payloads.append(p)
        ctypes.append(c)
    args = ["%s"]
    params: List[Any] = [queue]
    if any(j is not None for j in jbodies):
        args.append("bodies => %s::jsonb[]")
        params.append(jbodies)
    if any(p is not None for p in payloads):
        args.append("payloads => %s::bytea[]")
        params.append(payloads)
        args.append("content_types => %s::text[]")
        params.append(ctypes)
    for name in ("headers", "dedup_keys", "group_keys", "correlation_ids"):
        values = props.get(name)
        if values is None:
            continue
        values = list(values)
        if len(values) != len(bodies):
            raise ValueError(f"{name} has {len(values)} elements for {len(bodies)} bodies")
        if name == "headers":
            args.append("headers => %s::jsonb[]")
            params.append([None if h is None else Jsonb(dict(h)) for h in values])
        else:
            args.append(f"{name} => %s::text[]")
            params.append(values)
    for name in ("delay", "priority", "content_encoding", "reply_to", "ttl"):
        if props.get(name) is not None:
            args.append(f"{name} => %s")
            params.append(_param(name, props[name]))
    return f"SELECT * FROM mq.send_batch({', '.join(args)})", tuple(params)


# what mq.send_batch takes per message, and what it shares across a batch
BATCH_SHARED = ("delay", "priority", "content_encoding", "reply_to", "ttl")


def send_many(queue: str, items: Sequence[Tuple[Any, Mapping[str, Any]]],
              shared: Mapping[str, Any]) -> Query:
    """One mq.send_batch for sends of one queue that share BATCH_SHARED:
    items are (body, properties) with their own headers, dedup_key,
    group_key, content_type and correlation_id."""
    jbodies: List[Optional[Jsonb]] = []
    payloads: List[Optional[bytes]] = []
    ctypes: List[Optional[str]] = []
    for body, props in items:
        j, p, c = encode_body(body, props.get("content_type"))
        jbodies.append(j)
        payloads.append(p)
        ctypes.append(c)
    args = ["%s", "bodies => %s::jsonb[]", "payloads => %s::bytea[]",
            "content_types => %s::text[]"]
    params: List[Any] = [queue, jbodies, payloads, ctypes]
    for name, key in (("dedup_keys", "dedup_key"), ("group_keys", "group_key"),
                      ("correlation_ids", "correlation_id")):
        values = [props.get(key) for _, props in items]
        if any(v is not None for v in values):
            args.append(f"{name} => %s::text[]")
            params.append(values)
    headers = [props.get("headers") for _, props in items]
    if any(h is not None for h in headers):
        args.append("headers => %s::jsonb[]")
        params.append([None if h is None else Jsonb(dict(h)) for h in headers])
    for name in BATCH_SHARED:
        if shared.get(name) is not None:
            args.append(f"{name} => %s")
            params.append(_param(name, shared[name]))
    return f"SELECT * FROM mq.send_batch({', '.join(args)})", tuple(params)


PUBLISH_PROPERTIES = ("headers", "delay", "dedup_key", "group_key", "priority", "mandatory",
                      "content_type", "content_encoding", "correlation_id", "reply_to", "ttl")


def publish(exchange: str, routing_key: str, body: Any, props: Mapping[str, Any]) -> Query:
    jbody, payload, ctype = encode_body(body, props.get("content_type"))
    named = dict(props)
    named["content_type"] = ctype
    return call("publish", (exchange, routing_key), named, PUBLISH_PROPERTIES,
                always=(("body", jbody), ("payload", payload)))


APPEND_PROPERTIES = ("key", "headers", "content_type", "content_encoding", "correlation_id",
                     "reply_to")


def append(stream: str, body: Any, props: Mapping[str, Any]) -> Query:
    jbody, payload, ctype = encode_body(body, props.get("content_type"))
    named = dict(props)
    named["content_type"] = ctype
    return call("append", (stream,), named, APPEND_PROPERTIES, "partition, position",
                always=(("body", jbody), ("payload", payload)))


def read(queue: str, qty: int, visibility_timeout: Optional[Duration],
         wait: Optional[Duration]) -> Query:
    return (f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM mq.read(%s, %s, %s, %s)",
            (queue, qty, interval(visibility_timeout), interval(wait or 0)))


def peek(queue: str, qty: int, after_id: Optional[int]) -> Query:
    return (f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM mq.peek(%s, %s, %s)",
            (queue, qty, after_id))


def poll(stream: str, group: str, consumer: str, max_records: int, wait: Duration,
         session_timeout: Duration) -> Query:
    return (f"SELECT {', '.join(RECORD_COLUMNS)} FROM mq.poll(%s, %s, %s, %s, %s, %s)",
            (stream, group, consumer, max_records, interval(wait), interval(session_timeout)))
