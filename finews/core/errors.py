"""One error shape for every JSON answer that is not a success: RFC 9457 problem details.

Feeds, share links, the API and the hub all fail the same way, so clients parse one shape:
`type` (a stable tag per kind of problem), `title`, `status` (the HTTP status), `detail`,
and, for 422, `errors` naming each field and the rule it broke. Code raises `Problem`
(or builds one and calls `response()`); the status and kind travel with the exception,
as in Shlink, and one place turns it into bytes.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "tag:finews,2026:problem/"


def problem_type(kind: str) -> str:
    """The stable `type` URI of a kind of problem, e.g. `tag:finews,2026:problem/not_found`."""
    return TYPE_PREFIX + kind


class Problem(Exception):
    """A request that fails with `status`; `kind` is the machine-readable name of why.

    `errors` lists `{"field", "rule", "detail"}` objects for 422; `retry_after` (seconds)
    becomes the Retry-After header, which every 429 and 503 carries; `extra` adds members.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        if status in (429, 503) and retry_after is None:
            retry_after = 5
        self.status, self.kind, self.detail = status, kind, detail
        self.errors, self.retry_after, self.extra = errors, retry_after, extra
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": problem_type(self.kind),
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        all_headers = {"Cache-Control": "no-store", **self.headers, **(headers or {})}
        if self.retry_after is not None:
            all_headers["Retry-After"] = str(self.retry_after)
        return web.Response(
            body=json.dumps(self.body(), ensure_ascii=False).encode(),
            status=self.status,
            content_type=CONTENT_TYPE,
            charset="utf-8",
            headers=all_headers,
        )


def problem(status: int, kind: str, detail: str, **kwargs: Any) -> web.Response:
    """The response of `Problem(status, kind, detail, **kwargs)`."""
    return Problem(status, kind, detail, **kwargs).response()
