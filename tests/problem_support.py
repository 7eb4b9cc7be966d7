"""What every error answer must look like: RFC 9457 problem details (finews.core.errors).

Shared by tests/root/test_error_shape.py (each route's known errors) and
tests/root/test_hostile_clients.py (whatever a hostile client sends).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from finews.core.errors import CONTENT_TYPE, TYPE_PREFIX


def check_problem(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The problem of an error answer, after checking its shape; AssertionError if not."""
    assert headers.get("Content-Type", "").split(";")[0].strip() == CONTENT_TYPE, headers
    problem = json.loads(body)
    assert isinstance(problem, dict), problem
    assert isinstance(problem.get("type"), str) and problem["type"].startswith(TYPE_PREFIX)
    assert problem.get("title") == HTTPStatus(status).phrase, problem
    assert problem.get("status") == status, problem
    assert isinstance(problem.get("detail"), str) and problem["detail"], problem
    if status == 422:
        errors = problem.get("errors")
        assert isinstance(errors, list) and errors, problem
        for error in errors:
            assert set(error) == {"field", "rule", "detail"}, error
            assert all(isinstance(value, str) and value for value in error.values()), error
    if status in (429, 503):
        assert int(headers["Retry-After"]) >= 1, headers
    return problem


def check_answer(
    status: int, headers: Mapping[str, str], body: bytes, *, head: bool = False
) -> None:
    """No 5xx but 503; Retry-After on 429 and 503; every JSON error is problem details
    (checked on the body, which a HEAD answer has not)."""
    assert status < 500 or status == 503, (status, body[:300])
    if status in (429, 503):
        assert int(headers["Retry-After"]) >= 1, headers
    content_type = headers.get("Content-Type", "").split(";")[0].strip()
    if status >= 400 and content_type.endswith("json") and not head:
        check_problem(status, headers, body)
