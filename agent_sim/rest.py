"""The agent's REST vocabulary as cppagent 2.7 routes it: requests, responses, errors, typed parameters."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agent_sim.devices import Device
from agent_sim.render_xml import ErrorInfo

__all__ = [
    "INT32_MAX",
    "READ_ONLY_MESSAGE",
    "XML_TYPE",
    "AgentError",
    "Request",
    "Response",
    "RouteHandler",
    "StreamPlan",
    "agent_error",
    "check_range",
    "dispatch",
]

XML_TYPE = "application/xml"
"""The XML media type of cppagent 2.6+ (agents up to 2.5 sent ``text/xml``)."""
INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1
READ_ONLY_MESSAGE = (
    "PUT, POST, and DELETE are not allowed. MTConnect Agent is read only and only GET is allowed."
)
"""The reference agent's answer to any method but GET when ``AllowPut`` is off (``session_impl.cpp``)."""

_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")
"""What ``strtoll``/``strtoull`` read: leading space, a sign, digits; anything after them is ignored."""

_STRING, _BOOL, _INTEGER, _UNSIGNED = "string", "bool", "integer", "unsigned_integer"
_ROUTE_PARAMETERS: dict[str, dict[str, str]] = {
    "probe": {"pretty": _BOOL, "deviceType": _STRING, "format": _STRING},
    "current": {
        "path": _STRING,
        "at": _UNSIGNED,
        "interval": _INTEGER,
        "pretty": _BOOL,
        "deviceType": _STRING,
        "format": _STRING,
    },
    "sample": {
        "path": _STRING,
        "from": _UNSIGNED,
        "interval": _INTEGER,
        "count": _INTEGER,
        "heartbeat": _INTEGER,
        "to": _UNSIGNED,
        "pretty": _BOOL,
        "deviceType": _STRING,
        "format": _STRING,
    },
    "assets": {
        "type": _STRING,
        "removed": _BOOL,
        "count": _INTEGER,
        "device": _STRING,
        "pretty": _BOOL,
        "format": _STRING,
    },
    "asset_ids": {},
}
"""The typed query parameters of each route (``rest_service.cpp`` routings); others are ignored."""
_DOCUMENT = {
    "probe": "MTConnectDevices",
    "current": "MTConnectStreams",
    "sample": "MTConnectStreams",
    "assets": "MTConnectAssets",
    "asset_ids": "MTConnectAssets",
}


class AgentError(Exception):
    """A request the agent refuses: the errors to report, the HTTP status, and the document requested."""

    def __init__(self, errors: list[ErrorInfo], status: int, document: str | None = None) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
        self.status = status
        self.document = document
        """The document type asked for (``MTConnectStreams``...), once a route matched; else ``None``."""


def agent_error(code: str, message: str, status: int = 400, **details: Any) -> AgentError:
    """An ``AgentError`` with one error: its code, message, HTTP status and details (see ``ErrorInfo``)."""
    return AgentError([ErrorInfo(code, message, **details)], status)


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as the agent sees it: method, URL-decoded path and query, Accept header, client."""

    method: str
    path: str
    query: Mapping[str, str]
    accept: str = ""
    remote: str = "127.0.0.1"

    @property
    def wants_json(self) -> bool:
        """``format=json|xml`` wins; otherwise the first Accept entry ending in json or xml (default XML).

        As ``RestService::getPrinter``: an unknown ``format`` falls back to Accept, and Accept entries are
        compared as sent (``application/json;q=0.9`` ends in neither).
        """
        fmt = self.query.get("format")
        if fmt in ("json", "xml"):
            return fmt == "json"
        for entry in self.accept.split(","):
            if entry.endswith("json"):
                return True
            if entry.endswith("xml"):
                return False
        return False

    @property
    def uri(self) -> str:
        """The request as the 2.6+ error documents report it: the path, then the decoded query by key."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{key}={value}" for key, value in sorted(self.query.items()))


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: status, media type, body, and any extra header fields (such as ``Allow``)."""

    status: int
    content_type: str
    body: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class StreamPlan:
    """A streaming request, validated: what to send and how often.

    ``next_sequence`` is where a sample stream starts (``None``: at the first sequence in the buffer).
    """

    kind: str
    devices: list[Device]
    items: frozenset[str] | None
    interval_ms: int
    heartbeat_ms: int
    count: int
    next_sequence: int | None = None
    json: bool = False


RouteHandler = Callable[[str, str | None, dict[str, Any], Request], Response | StreamPlan | None]
"""Answers a matched route: (route, path parameter, typed query parameters, request); ``None`` declines."""


def _segments(path: str) -> list[str] | None:
    """The segments of a request path; ``None`` when it cannot match a route (empty segments)."""
    if not path.startswith("/"):
        return None
    body = path[1:-1] if path.endswith("/") and len(path) > 1 else path[1:]
    parts = body.split("/") if body else []
    return None if any(not part for part in parts) else parts


def _routes(parts: list[str]) -> Iterator[tuple[str, str | None]]:
    """The routes a path matches, in the reference agent's routing order: (route, path parameter)."""
    count = len(parts)
    for kind in ("current", "sample"):
        if count == 1 and parts[0] == kind:
            yield kind, None
        if count == 2 and parts[1] == kind:
            yield kind, parts[0]
    if count == 1 and parts[0] in ("asset", "assets"):
        yield "assets", None
    if count == 2 and parts[1] in ("asset", "assets"):
        yield "assets", parts[0]
    if count == 2 and parts[0] in ("asset", "assets"):
        yield "asset_ids", parts[1]
    if count == 1 and parts[0] == "probe":
        yield "probe", None
    if count == 2 and parts[1] == "probe":
        yield "probe", parts[0]
    if count == 0:
        yield "probe", None
    if count == 1:
        yield "probe", parts[0]  # "Must be last": /{device} is a probe too


def dispatch(request: Request, handler: RouteHandler) -> Response | StreamPlan:
    """Dispatch as ``Server::dispatch``: the first route whose path matches converts its typed query
    parameters (a bad one fails the request) and may still decline; nothing left is INVALID_URI.

    Returns:
        The handler's answer to a GET, or the answer to OPTIONS (204 with ``Allow``).

    Raises:
        AgentError: INVALID_URI, a bad parameter, the handler's errors (with the route's document type),
            or the read-only refusal of any other method.
    """
    parts = _segments(request.path)
    routes = list(_routes(parts)) if parts is not None else []
    if request.method == "GET":
        return _dispatch_routes(routes, request, handler)
    if request.method != "OPTIONS":
        raise agent_error("INTERNAL_ERROR", READ_ONLY_MESSAGE)
    if not routes:
        raise _invalid_uri(request)
    return Response(204, "text/plain", "", (("Allow", "GET, OPTIONS"),))


def _invalid_uri(request: Request) -> AgentError:
    return agent_error(
        "INVALID_URI", f"{request.remote}: Cannot find handler for: {request.method} {request.path}", 404
    )


def _dispatch_routes(
    routes: list[tuple[str, str | None]], request: Request, handler: RouteHandler
) -> Response | StreamPlan:
    for kind, argument in routes:
        values = _parameters(kind, request.query)
        try:
            result = handler(kind, argument, values, request)
        except AgentError as exc:
            exc.document = exc.document or _DOCUMENT[kind]
            raise
        if result is not None:
            return result
    raise _invalid_uri(request)


def _parameters(kind: str, query: Mapping[str, str]) -> dict[str, Any]:
    """The typed query parameters of a route, converted in name order as ``Routing::matches`` does.

    Raises:
        AgentError: INVALID_PARAMETER_VALUE for a value that does not start with a number.
    """
    values: dict[str, Any] = {}
    for name, kind_of in sorted(_ROUTE_PARAMETERS[kind].items()):
        raw = query.get(name)
        if raw is None:
            continue
        if kind_of == _STRING:
            values[name] = raw
        elif kind_of == _BOOL:
            values[name] = raw in ("true", "yes")
        else:
            values[name] = _number(name, raw, unsigned=kind_of == _UNSIGNED)
    return values


def _number(name: str, raw: str, *, unsigned: bool) -> int:
    """Read a number as ``strtoll``/``strtoull``: leading digits count, the rest is ignored; signed values
    saturate at 64 bits and wrap to int32 (so 999999999999999999 is -1486618625), unsigned ones wrap at
    64 bits (so -1 is 2**64-1)."""
    match = _LEADING_INTEGER.match(raw)
    if match is None:
        kind = "unsigned integer" if unsigned else "integer"
        raise agent_error(
            "INVALID_PARAMETER_VALUE",
            f"query parameter '{name}': cannot convert string '{raw}' to {kind}",
            parameter=name,
            value=raw,
            value_type=_UNSIGNED if unsigned else _INTEGER,
        )
    value = int(match.group(1))
    if unsigned:
        if abs(value) > _UINT64_MAX:
            return _UINT64_MAX
        return value % 2**64
    value = max(-_INT64_MAX - 1, min(_INT64_MAX, value))
    return (value + 2**31) % 2**32 - 2**31


def check_range(name: str, value: int, low: int, high: int, *, not_zero: bool = False) -> None:
    """Check a query parameter with cppagent's messages.

    Raises:
        AgentError: OUT_OF_RANGE unless ``low < value < high`` (and non-zero when ``not_zero``).
    """
    details: dict[str, Any] = {
        "parameter": name,
        "value": str(value),
        "minimum": low + 1,
        "maximum": high - 1,
    }
    if value <= low:
        raise agent_error("OUT_OF_RANGE", f"'{name}' must be greater than {low}", **details)
    if value >= high:
        raise agent_error("OUT_OF_RANGE", f"'{name}' must be less than {high}", **details)
    if not_zero and value == 0:
        raise agent_error("OUT_OF_RANGE", f"'{name}' must not be zero(0)", **details)
