"""`finews serve` processes for tests that need several of them: one Redis, one posts dir.

Each process logs to its own file (read by the test to see what it did) and answers on its
own 127.0.0.1 port.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.envs import clean_env

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def until(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Poll `check` every 50 ms; fail naming `what` when it never held."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"never happened: {what}")


def write_post(posts: Path, n: int, title: str) -> None:
    """A post file dated 2024-01-n; written whole under a temporary name, then renamed."""
    text = (
        f'---\ntitle: "{title}"\ndate: 2024-01-{n:02d} 08:00:00 +0800\n'
        f"category: xiamenribao\n---\n<p>{title}</p>\n"
    )
    tmp = posts / f".{n}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.rename(posts / f"2024-01-{n:02d}-post-{n}.md")


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int, path: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> Answer:
    """One request to 127.0.0.1:port, redirects not followed (POST when `data`)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST" if data else "GET", path, body=data, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


class Serve:
    """One `finews serve` subprocess on a free port; stopped by stop()."""

    def __init__(self, tmp: Path, name: str, port: int | None = None, **settings: str) -> None:
        self.port = port or free_port()
        self.log = tmp / f"{name}.log"
        env = clean_env(
            FINEWS_DATA__DIR=str(tmp / f"{name}-data"),
            FINEWS_LOG__ACCESS="false",
            FINEWS_SERVER__SHUTDOWN_TIMEOUT="2",
            **{f"FINEWS_{key.upper()}": value for key, value in settings.items()},
        )
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "finews", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        until(lambda: self.get("/healthz") is not None, f"{name} answers", 60)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes] | None:
        """One GET (redirects not followed); (status, body), None when nothing answers."""
        try:
            answer = request(self.port, path, headers)
        except (OSError, http.client.HTTPException):
            return None
        return answer.status, answer.body

    def request(
        self, path: str, headers: dict[str, str] | None = None, data: bytes | None = None
    ) -> Answer:
        return request(self.port, path, headers, data)

    def builds(self) -> bool | None:
        """This process's finews_feeds_builder gauge; None when it does not answer."""
        answer = self.get("/metrics")
        if answer is None or answer[0] != 200:
            return None
        for family in text_string_to_metric_families(answer[1].decode()):
            for sample in family.samples:
                if sample.name == "finews_feeds_builder":
                    return sample.value == 1
        return None

    def logged(self, text: str, since: int = 0) -> bool:
        return text in self.log.read_text(encoding="utf-8", errors="replace")[since:]

    def log_size(self) -> int:
        return len(self.log.read_text(encoding="utf-8", errors="replace"))

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
