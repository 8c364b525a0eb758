"""The console's HTTP server: the standard library's ThreadingHTTPServer,
pages from Jinja2 templates with autoescaping, actions POST-only behind a
per-process CSRF token and an Origin/Host check."""
from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import logging
import math
import mimetypes
import re
import secrets
import signal
import socket
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jinja2
import psycopg
from psycopg import errors as pgerrors

from . import _bodies, _data, _svg
from ._sampler import Sampler, net_rate
from ._urls import href
from .._sql import Json
from ..client import Transaction

log = logging.getLogger("mq_client.console")

DEFAULT_PORT = 8765
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
PEEK_DEFAULT = 20
PEEK_MAX = 50  # each shows at most 64 kB of its body
MAX_FORM = 1024 * 1024 + 4096
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
DONE = {"sent": "Sent message {n}.", "redriven": "Moved {n} dead letters back.",
        "purged": "Purged {n} messages."}
DONE_KEPT = 200  # outcomes of actions waiting to be shown once
KINDS = ("queues", "streams", "exchanges")
DEFAULT_PORTS = {"http": 80, "https": 443}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The console's options (``mqctl console`` and ``python -m
    mq_client.console`` add them to their parsers)."""
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"address to serve on (default {DEFAULT_LISTEN}; "
                        "port 0 picks a free one)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]",
                        help="another host name to accept in the Host and Origin headers "
                        "(a name behind a reverse proxy; without a port, on any port); "
                        "repeatable")
    parser.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                        help="how often to sample mq's counters for the charts (default 5)")
    parser.add_argument("--refresh", type=int, default=10, metavar="SECONDS",
                        help="pages reload themselves this often; 0: never (default 10)")
    parser.add_argument("--db-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="a page's statements and lock waits end after this long; "
                        "connecting too (default 5)")
    parser.add_argument("--max-db-requests", type=int, default=8, metavar="N",
                        help="requests using the database at once; more get 503 (default 8)")
    parser.add_argument("--client-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="a browser's request that sends nothing for this long is "
                        "dropped (default 30)")
    parser.add_argument("--max-sampled", type=int, default=1000, metavar="N",
                        help="the charts sample at most N queues and N streams "
                        "(default 1000)")


def parse_listen(listen: str) -> Tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen wants HOST:PORT, not {listen!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class Console:
    """What the request handlers share: the DSN, the sampler, the token."""

    def __init__(self, dsn: str, args: argparse.Namespace, host: str, port: int) -> None:
        self.dsn = dsn
        self.refresh = max(0, int(getattr(args, "refresh", 10)))
        self.csrf = secrets.token_urlsafe(32)
        self.db_timeout = max(0.1, float(getattr(args, "db_timeout", 5.0)))
        self.connect_timeout = max(2, math.ceil(self.db_timeout))
        self.db_slots = threading.BoundedSemaphore(
            max(1, int(getattr(args, "max_db_requests", 8))))
        self.sampler = Sampler(dsn, max(0.5, float(getattr(args, "interval", 5.0))),
                               int(getattr(args, "max_sampled", 1000)),
                               self.connect_timeout, self.db_timeout)
        self.hosts = Hosts(host, port, list(getattr(args, "allow_host", []) or []))
        self.done: "OrderedDict[str, str]" = OrderedDict()
        self.done_lock = threading.Lock()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("mq_client.console", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined)
        self.env.filters["num"] = _num
        self.env.filters["age"] = _age
        self.env.globals["sparkline"] = _svg.sparkline
        self.env.globals["href"] = href

    def remember(self, message: str) -> str:
        """A one-time key under which the next page shows message."""
        key = secrets.token_urlsafe(12)
        with self.done_lock:
            self.done[key] = message
            while len(self.done) > DONE_KEPT:
                self.done.popitem(last=False)
        return key

    def recall(self, key: Optional[str]) -> str:
        with self.done_lock:
            return self.done.pop(key or "", "")


def split_host(value: str) -> Optional[Tuple[str, Optional[int]]]:
    """"name:port", "[v6]:port" or without a port: (host, port or None)."""
    m = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:\[\]/@\s]+)(?::([0-9]{1,5}))?",
                     value.strip().lower())
    if not m:
        return None
    return m.group(1).strip("[]"), int(m.group(2)) if m.group(2) else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class Hosts:
    """Which Host and Origin headers the console answers (against DNS
    rebinding and cross-site requests).

    Host: the address served on (and the loopback names when that is a
    loopback address); on a wildcard address (0.0.0.0, ::) any IP address
    and ``localhost``, on any port; and each --allow-host: with a port, on
    that port (or without one when it is 80 or 443), without one, on any.
    A Host without a port means port 80.  Origin (or Referer) of a POST:
    the request's own Host, or an --allow-host; default ports filled in."""

    def __init__(self, host: str, port: int, extra: List[str]) -> None:
        host = host.lower()
        self.wildcard = _is_ip(host) and ipaddress.ip_address(host).is_unspecified
        self.served = {(host, port)}
        if host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback):
            self.served |= {("localhost", port), ("127.0.0.1", port), ("::1", port)}
        self.extra: List[Tuple[str, Optional[int]]] = []
        for h in extra:
            found = split_host(h)
            if found is None:
                raise ValueError(f"--allow-host wants HOST or HOST:PORT, not {h!r}")
            self.extra.append(found)

    def host_ok(self, value: str) -> bool:
        found = split_host(value)
        if found is None:
            return False
        host, port = found
        if (host, 80 if port is None else port) in self.served:
            return True
        if self.wildcard and (host == "localhost" or _is_ip(host)):
            return True
        return any(h == host and (p is None or p == port or (port is None and p in (80, 443)))
                   for h, p in self.extra)

    def origin_ok(self, origin: str, host_header: str) -> bool:
        url = urlsplit(origin.strip().lower())
        if url.scheme not in DEFAULT_PORTS or not url.hostname:
            return False
        try:
            port = url.port or DEFAULT_PORTS[url.scheme]
        except ValueError:
            return False
        same = split_host(host_header)
        if same is not None and same[0] == url.hostname and \
                (same[1] == port or (same[1] is None and port == DEFAULT_PORTS[url.scheme])):
            return True
        return any(h == url.hostname and (p is None or p == port) for h, p in self.extra)


def _num(v: Any) -> str:
    if v is None:
        return "\u2014"
    if isinstance(v, float):
        return f"{v + 0.0 if abs(v) >= 0.005 else 0.0:,.2f}"  # no "-0.00"
    return f"{v:,}"


def _age(v: Any) -> str:
    if v is None:
        return "\u2014"
    s = v.total_seconds() if hasattr(v, "total_seconds") else float(v)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


class HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    server_version = "mq-console"
    console: Console  # set on the subclass made by serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # -- dispatch ---------------------------------------------------------
    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        try:
            self._check_host()
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/")[1:]]
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if len(parts) == 2 and parts[0] in KINDS and parts[1] == "" and "name" in query:
                parts[1] = query["name"]  # a name that cannot be a path segment
                if "action" in query:
                    parts.append(query["action"])
            if any("\0" in p for p in parts):
                raise HTTPError(HTTPStatus.BAD_REQUEST, "names cannot contain NUL characters")
            if method == "POST":
                form = self._form()
                self._check_origin()
                self._check_token(form)
                if len(parts) == 3 and parts[0] == "queues" and \
                        parts[2] in ("send", "redrive", "purge"):
                    self._action(parts[1], parts[2], form)
                    return
                raise HTTPError(HTTPStatus.NOT_FOUND, "no such action")
            if parts == [""]:
                self._overview(query)
            elif parts == ["metrics"]:
                self._metrics()
            elif len(parts) == 2 and parts[0] == "static":
                self._static(parts[1])
            elif len(parts) == 2 and parts[0] in KINDS and parts[1]:
                getattr(self, "_" + parts[0][:-1])(parts[1], query)
            else:
                raise HTTPError(HTTPStatus.NOT_FOUND, "no such page")
        except HTTPError as e:
            self._page("error.html", e.status, status=int(e.status), message=e.message)
        except pgerrors.InsufficientPrivilege as e:
            self._page("error.html", HTTPStatus.FORBIDDEN, status=403,
                       message=_pg_message(e))
        except (pgerrors.QueryCanceled, pgerrors.LockNotAvailable) as e:
            self._page("error.html", HTTPStatus.SERVICE_UNAVAILABLE, status=503,
                       message=f"the database did not answer within {self.console.db_timeout:g} s"
                       f" (--db-timeout): {_pg_message(e)}")
        except psycopg.Error as e:
            if isinstance(e, psycopg.OperationalError) and e.sqlstate is None or \
                    (e.sqlstate or "").startswith("08"):  # no connection
                self._page("error.html", HTTPStatus.SERVICE_UNAVAILABLE, status=503,
                           message="cannot reach the database: " + _pg_message(e))
            else:  # refused by the server, or by psycopg before sending
                self._page("error.html", HTTPStatus.BAD_REQUEST, status=400,
                           message=_pg_message(e))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except TimeoutError:  # the client stopped sending: --client-timeout
            self.close_connection = True
        except Exception:
            log.exception("internal error on %s %s", method, self.path)
            self._page("error.html", HTTPStatus.INTERNAL_SERVER_ERROR, status=500,
                       message="internal error of the console (its log says more)")

    # -- protection -------------------------------------------------------
    def _check_host(self) -> None:
        host = self.headers.get("Host") or ""
        if not self.console.hosts.host_ok(host):
            raise HTTPError(HTTPStatus.MISDIRECTED_REQUEST,
                            f"this console does not answer to host {host.lower()!r} "
                            "(start it with --allow-host to add one)")

    def _check_origin(self) -> None:
        """A POST must come from a page of this console: its Origin (or,
        without one, its Referer) names the request's host or an
        --allow-host."""
        host = self.headers.get("Host") or ""
        origin = self.headers.get("Origin")
        if origin is not None:
            if not self.console.hosts.origin_ok(origin, host):
                raise HTTPError(HTTPStatus.FORBIDDEN,
                                "cross-origin request refused: "
                                f"Origin {origin!r} is not this console")
            return
        referer = self.headers.get("Referer")
        if referer is None:
            raise HTTPError(HTTPStatus.FORBIDDEN,
                            "request refused: no Origin or Referer header")
        ref = urlsplit(referer)
        if not self.console.hosts.origin_ok(f"{ref.scheme}://{ref.netloc}", host):
            raise HTTPError(HTTPStatus.FORBIDDEN,
                            "cross-origin request refused: "
                            f"Referer {referer!r} is not this console")

    def _check_token(self, form: Dict[str, str]) -> None:
        token = form.get("csrf", "")
        if not hmac.compare_digest(token.encode(), self.console.csrf.encode()):
            raise HTTPError(HTTPStatus.FORBIDDEN,
                            "request refused: the form's CSRF token is missing or wrong "
                            "(reload the page)")

    def _form(self) -> Dict[str, str]:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise HTTPError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                            "actions take application/x-www-form-urlencoded forms")
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if length < 0 or length > MAX_FORM:
            self.close_connection = True
            if 0 < length <= 16 * MAX_FORM:  # read it, so that the client sees the answer
                while length > 0:
                    length -= len(self.rfile.read(min(length, 65536)) or b"x" * length)
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"form too large (at most {MAX_FORM} bytes)")
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    # -- output -----------------------------------------------------------
    def _send(self, status: HTTPStatus, ctype: str, data: bytes,
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _page(self, template: str, http_status: HTTPStatus = HTTPStatus.OK, **ctx: Any) -> None:
        c = self.console
        ctx.setdefault("refresh", 0)
        ctx.setdefault("title", f"Error {ctx.get('status', '')}")
        html = c.env.get_template(template).render(
            csrf="" if template == "error.html" else c.csrf, sampler_error=c.sampler.error,
            sampler_note=c.sampler.note,
            role=getattr(self, "_role", None), **ctx)
        self._send(http_status, "text/html; charset=utf-8", html.encode("utf-8"))

    def _redirect(self, location: str) -> None:
        self._send(HTTPStatus.SEE_OTHER, "text/plain; charset=utf-8", b"",
                   {"Location": location})

    def _static(self, name: str) -> None:
        if name not in ("console.css", "console.js"):
            raise HTTPError(HTTPStatus.NOT_FOUND, "no such file")
        data = resources.files("mq_client.console").joinpath("static", name).read_bytes()
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, ctype + "; charset=utf-8", data,
                   {"Cache-Control": "max-age=300"})

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for this request, in a transaction whose statements
        end after --db-timeout; at most --max-db-requests at once."""
        c = self.console
        if not c.db_slots.acquire(timeout=0.25):
            raise HTTPError(HTTPStatus.SERVICE_UNAVAILABLE,
                            "the console is busy: too many requests are waiting for the "
                            "database (--max-db-requests); try again shortly")
        try:
            with _data.open_connection(c.dsn, connect_timeout=c.connect_timeout) as conn:
                with _data.limited(conn, c.db_timeout):
                    self._role = conn.execute(
                        "SELECT current_user || ' @ ' || current_database()"
                    ).fetchone()[0]  # type: ignore[index]
                    yield conn
        finally:
            c.db_slots.release()

    def _refresh(self, query: Dict[str, str]) -> int:
        return 0 if query.get("refresh") == "0" else self.console.refresh

    # -- pages ------------------------------------------------------------
    def _overview(self, query: Dict[str, str]) -> None:
        s = self.console.sampler
        with self._connect() as conn:
            qs = _data.queues(conn)
            stream_privs = _data.privileges(conn, "stream")
            ss = _data.streams(conn, {n for n, p in stream_privs.items() if p})
            xs = _data.exchanges(conn)
        for q in qs:
            name = q["queue_name"]
            q["depth_series"] = s.queue_series(name, "queue_length")
            q["rate"] = _last(net_rate(q["depth_series"]), 12)
            q["dead_rate"] = _last(s.queue_rate(name, "dead"), 12)
        for st in ss:
            st["rate_series"] = s.stream_rate(st["stream"])
            st["rate"] = _last(st["rate_series"], 12)
            st["lag_series"] = s.stream_lag(st["stream"])
        self._page("overview.html", queues=qs, streams=ss, exchanges=xs,
                   refresh=self._refresh(query), title="Overview")

    def _queue(self, name: str, query: Dict[str, str]) -> None:
        s = self.console.sampler
        try:
            limit = min(PEEK_MAX, max(1, int(query.get("peek", PEEK_DEFAULT))))
        except ValueError:
            limit = PEEK_DEFAULT
        with self._connect() as conn:
            q = _data.queue(conn, name)
            if q is None:
                raise HTTPError(HTTPStatus.NOT_FOUND, f"no queue named {name!r}")
            privs = _data.privileges(conn, "queue")
            mine = privs.get(name, set())
            messages = _peek(conn, name, limit) if "read" in mine else None
            dlq = q["dead_letter_queue"]
            dead = None
            if dlq is not None:
                dead = {"name": dlq, "metrics": _data.metrics(conn, dlq),
                        "messages": _peek(conn, dlq, limit)
                        if "read" in privs.get(dlq, set()) else None,
                        "can_redrive": "read" in privs.get(dlq, set()) and "send" in mine}
            redrive_to = [t for t in q["dead_letter_sources"]
                          if "read" in mine and "send" in privs.get(t, set())]
        depth = {k: s.queue_series(name, c) for k, c in
                 (("depth", "queue_length"), ("visible", "visible"),
                  ("in flight", "in_flight"), ("delayed", "delayed"))}
        rates = {"depth change/s": net_rate(depth["depth"]),
                 "dead letters/s": s.queue_rate(name, "dead")}
        done = self.console.recall(query.get("done"))
        self._page("queue.html", q=q, privs=mine, messages=messages, dead=dead,
                   redrive_to=redrive_to, limit=limit, done=done,
                   depth_chart=_svg.line_chart(depth, "Messages"),
                   rate_chart=_svg.line_chart(rates, "Per second"),
                   refresh=self._refresh(query), title=f"Queue {name}")

    def _stream(self, name: str, query: Dict[str, str]) -> None:
        s = self.console.sampler
        with self._connect() as conn:
            privs = _data.privileges(conn, "stream").get(name, set())
            st = _data.stream(conn, name, bool(privs))
            if st is None:
                raise HTTPError(HTTPStatus.NOT_FOUND, f"no stream named {name!r}")
        charts = {}
        for group, parts in st["groups"].items():
            lag = s.group_lag(name, group)
            charts[group] = _svg.line_chart(
                {f"partition {p}": pts for p, pts in lag.items()},
                f"Lag of {group} per partition")
        rate = _svg.line_chart({"records/s": s.stream_rate(name)}, "Appends per second")
        self._page("stream.html", s=st, privs=privs, charts=charts, rate_chart=rate,
                   refresh=self._refresh(query), title=f"Stream {name}")

    def _exchange(self, name: str, query: Dict[str, str]) -> None:
        with self._connect() as conn:
            e = _data.exchange(conn, name)
            if e is None:
                raise HTTPError(HTTPStatus.NOT_FOUND, f"no exchange named {name!r}")
        out = list(e["out"])
        if e["alternate_exchange"]:
            out.append({"destination": e["alternate_exchange"], "destination_type": "exchange",
                        "binding_key": "(alternate exchange)"})
        graph = _svg.bindings_graph(name, e["in"], out)
        self._page("exchange.html", e=e, graph=graph, refresh=self._refresh(query),
                   title=f"Exchange {name}")

    def _metrics(self) -> None:
        with self._connect() as conn:
            text = conn.execute("SELECT mq.metrics_prometheus()").fetchone()[0]  # type: ignore
        self._send(HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8",
                   str(text).encode("utf-8"))

    # -- actions ----------------------------------------------------------
    def _action(self, name: str, action: str, form: Dict[str, str]) -> None:
        """A first POST shows what will be done and asks again; the second,
        with confirm=yes, does it (mq checks the privileges)."""
        details: Dict[str, Any] = {}
        if action == "send":
            fmt = form.get("format", "json")
            text = form.get("body", "")
            if fmt == "json":
                try:
                    body: Any = Json(json.loads(text))
                except ValueError as e:
                    raise HTTPError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {e}")
                except RecursionError:
                    raise HTTPError(HTTPStatus.BAD_REQUEST,
                                    "the body is nested too deeply to send from here")
            elif fmt == "text":
                if "\0" in text:
                    raise HTTPError(HTTPStatus.BAD_REQUEST,
                                    "a text body cannot contain NUL characters")
                body = text
            else:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "format is json or text")
            details = {"format": fmt, "body": text}
        elif action == "redrive":
            target = form.get("target", "")
            if not target:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "redrive needs a target queue")
            details = {"target": target}
        if form.get("confirm") != "yes":
            with self._connect() as conn:
                m = _data.metrics(conn, name)
            self._page("confirm.html", action=action, queue=name, details=details,
                       metrics=m, title=f"Confirm {action}")
            return
        with self._connect() as conn:
            tx = Transaction(conn)
            if action == "send":
                try:
                    n = tx.send(name, body)
                except RecursionError:  # psycopg's json.dumps, nearer its limit
                    raise HTTPError(HTTPStatus.BAD_REQUEST,
                                    "the body is nested too deeply to send from here")
                done = "sent"
            elif action == "redrive":
                n = conn.execute("SELECT mq.redrive(%s, %s)",
                                 (name, details["target"])).fetchone()[0]  # type: ignore
                done = "redriven"
            else:
                n = tx.purge_queue(name)
                done = "purged"
        back = href("queues", details.get("target", name) if action == "redrive" else name)
        key = self.console.remember(DONE[done].format(n=n))
        self._redirect(back + ("&" if "?" in back else "?") + urlencode({"done": key}))


def _peek(conn: psycopg.Connection[Any], name: str, limit: int) -> Dict[str, Any]:
    """The peeked messages ready to show, or the error that prevented
    peeking (on a standby, say), which the page shows in their place; a
    message that cannot be shown shows why instead."""
    out = []
    try:
        with conn.transaction():  # a savepoint: the page goes on after an error
            messages = _data.peek(conn, name, limit, _bodies.MAX_SHOWN + 1)
    except psycopg.Error as e:
        return {"error": _pg_message(e), "list": []}
    for m in messages:
        try:
            kind, text = _bodies.show(m["body_text"], m["body_size"], m["payload"],
                                      m["payload_size"], m["content_type"])
            headers = m["headers_text"]
            if headers is not None and len(headers) <= _bodies.MAX_SHOWN:
                headers = _bodies.pretty_json(headers)
            elif headers is not None:
                headers = headers[:_bodies.MAX_SHOWN] + "\n... (first 64 kB shown)"
        except Exception as e:  # whatever a body holds, the page shows the others
            log.exception("cannot show message %s of %s", m.get("msg_id"), name)
            kind, text, headers = "error", f"cannot show this message: {e!r}", None
        out.append({"m": m, "kind": kind, "text": text,
                    "headers": headers if headers not in (None, "{}") else None})
    return {"error": None, "list": out}


def _last(points: List[Tuple[float, float]], n: int) -> Optional[float]:
    """The mean of the last n rates (about a minute at the default interval)."""
    if not points:
        return None
    tail = [v for _, v in points[-n:]]
    return sum(tail) / len(tail)


def _pg_message(e: psycopg.Error) -> str:
    diag = e.diag
    msg = diag.message_primary or str(e).strip()
    if diag.sqlstate:
        msg += f" (SQLSTATE {diag.sqlstate})"
    return msg


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(dsn: str, args: argparse.Namespace) -> ThreadingHTTPServer:
    """Make the server (bound, not yet serving) and start the sampler."""
    host, port = parse_listen(getattr(args, "listen", DEFAULT_LISTEN))
    server_class = _Server6 if ":" in host else ThreadingHTTPServer
    httpd = server_class((host, port), Handler)
    port = httpd.server_address[1]
    console = Console(dsn, args, host, port)
    handler = type("BoundHandler", (Handler,), {
        "console": console,  # and a socket timeout: a silent client is dropped
        "timeout": max(0.1, float(getattr(args, "client_timeout", 30.0)))})
    httpd.RequestHandlerClass = handler
    httpd.console = console  # type: ignore[attr-defined]
    console.sampler.start()
    return httpd


def run(dsn: str, args: argparse.Namespace) -> int:
    """Serve the console until interrupted (SIGINT or SIGTERM); returns the
    exit status."""
    try:
        host, _ = parse_listen(getattr(args, "listen", DEFAULT_LISTEN))
        Hosts(host, 0, list(getattr(args, "allow_host", []) or []))
    except ValueError as e:
        print(f"mq console: {e}", file=sys.stderr)
        return 2
    try:  # fail early and clearly when the database cannot be reached
        with _data.open_connection(dsn) as conn:
            conn.execute("SELECT mq.metrics_prometheus()")
    except psycopg.Error as e:
        print(f"mq console: cannot use mq at this DSN: {_pg_message(e)}", file=sys.stderr)
        return 1
    try:
        httpd = serve(dsn, args)
    except OSError as e:
        print(f"mq console: cannot listen on {args.listen}: {e.strerror}", file=sys.stderr)
        return 1
    addr = httpd.server_address
    host = str(addr[0])
    shown = f"[{host}]" if ":" in host else host
    print(f"mq console: http://{shown}:{addr[1]}/  (Ctrl-C stops it)", flush=True)

    def on_signal(signum: int, frame: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    old = signal.signal(signal.SIGTERM, on_signal)
    try:
        httpd.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        httpd.console.sampler.stop()  # type: ignore[attr-defined]
        httpd.server_close()
    return 0
