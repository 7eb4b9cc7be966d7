"""One line per event, `key=value` fields, so logs grep and parse easily.

Loggers are named `finews.<area>`: the feature (feeds, shortlinks, websub) or the root
component (app, cli, workers, server, redis, access); README's Logs section lists them.
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLogger(AbstractAccessLogger):
    """One line per request with the fields an operator filters on."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        agent = request.headers.get("User-Agent", "-").replace('"', "'")
        self.logger.info(
            'method=%s path="%s" status=%d bytes=%d ms=%.1f remote=%s ua="%s"',
            request.method,
            request.path_qs.replace('"', "%22"),
            response.status,
            response.body_length,
            time * 1000,
            request.remote,
            agent,
        )
