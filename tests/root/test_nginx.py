"""deploy/finews.conf as shipped, run by Debian's nginx in front of two `finews serve`.

Only the addresses change: nginx listens on a free 127.0.0.1 port, the upstreams are the
two test processes, the static root is a `finews build` output in a temp dir.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.envs import clean_env
from tests.serving import ROOT, Serve, free_port, until
from tests.shortlinks_support import AUTH, CHROME_UA, KEY

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run does it in CI)"
)
SITE = "https://news.example.cn"


class Front:
    """nginx with deploy/finews.conf on 127.0.0.1:port, upstreams and static root replaced."""

    def __init__(self, prefix: Path, upstreams: list[int], static: Path) -> None:
        self.port = free_port()
        site = (ROOT / "deploy" / "finews.conf").read_text(encoding="utf-8")
        replaced = {
            "listen 80;": f"listen 127.0.0.1:{self.port};",
            "server 127.0.0.1:8080": f"server 127.0.0.1:{upstreams[0]}",
            "server 127.0.0.1:8081": f"server 127.0.0.1:{upstreams[1]}",
            "/srv/finews/static": str(static),
        }
        for old, new in replaced.items():
            assert old in site, f"deploy/finews.conf no longer has {old!r}"
            site = site.replace(old, new)
        (prefix / "finews.conf").write_text(site, encoding="utf-8")
        temps = " ".join(
            f"{kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dir
        (prefix / "nginx.conf").write_text(
            f"{user}\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log;\nevents {{ worker_connections 256; }}\n"
            f"http {{ access_log {prefix}/access.log; {temps}\n"
            f"include {prefix}/finews.conf; }}\n",
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.via = Serve.__new__(Serve)  # Serve's HTTP helpers, pointed at nginx
        self.via.port = self.port
        until(lambda: self.via.get("/healthz") is not None, "nginx answers", 10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def deployed(tmp_path: Path, redis_url: str) -> Iterator[tuple[Front, list[Serve]]]:
    settings = {
        "redis__url": redis_url,
        "site__url": SITE,
        "api__keys": KEY,
        "server__trust_forwarded": "true",
    }
    static = tmp_path / "static"
    built = subprocess.run(
        [sys.executable, "-m", "finews", "build", "--out", str(static), "--no-archives"],
        cwd=ROOT,
        env=clean_env(FINEWS_SITE__URL=SITE, FINEWS_DATA__DIR=str(tmp_path / "build-data")),
        capture_output=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr.decode()
    backends: list[Serve] = []
    front = None
    try:
        backends += [Serve(tmp_path, "one", **settings), Serve(tmp_path, "two", **settings)]
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        front = Front(prefix, [b.port for b in backends], static)
        yield front, backends
    finally:
        if front is not None:
            front.stop()
        for backend in backends:
            backend.stop()


def test_nginx_in_front_of_two_processes(deployed: tuple[Front, list[Serve]]) -> None:
    front, backends = deployed
    via = front.via
    until(lambda: (via.get("/feeds/all.atom") or (0,))[0] == 200, "feeds through nginx")

    # Feeds with finews's validators and cache headers; conditional GET answered 304.
    response = via.request("/feeds/all.atom", {"Accept-Encoding": "br"})
    assert response.status == 200 and response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert "Accept-Encoding" in response.headers["Vary"]
    etag = response.headers["ETag"]
    again = via.request("/feeds/all.atom", {"Accept-Encoding": "br", "If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
    since = via.request("/feeds/all.atom", {"If-Modified-Since": response.headers["Last-Modified"]})
    assert since.status == 304

    # A share link made through nginx redirects through nginx.
    made = via.request(
        "/api/links",
        {**AUTH, "Content-Type": "application/json"},
        data=f'{{"url": "{SITE}/2022/06/10/jimei-library.html"}}'.encode(),
    )
    assert made.status == 201, made.body
    code = made.json()["code"]
    redirect = via.request(f"/s/{code}", {"User-Agent": CHROME_UA})
    assert redirect.status == 302
    assert redirect.headers["Location"] == f"{SITE}/2022/06/10/jimei-library.html"

    # The visitor is the address nginx saw: a forged X-Forwarded-For changes nothing
    # (two "different" visitors through nginx are one), while finews does read the hop
    # nginx appends (two addresses sent straight to finews are two visitors).
    for forged in ("198.51.100.1", "198.51.100.2"):
        via.request(f"/s/{code}", {"User-Agent": CHROME_UA, "X-Forwarded-For": forged})
    for hop in ("10.1.0.1", "10.1.0.2"):
        backends[0].get(f"/s/{code}", {"User-Agent": CHROME_UA, "X-Forwarded-For": hop})

    def visitors() -> int:
        answer = via.request(f"/api/links/{code}/stats", AUTH)
        return answer.json()["totals"]["visitors"] if answer.status == 200 else -1

    until(lambda: visitors() == 3, "one visitor through nginx, two sent straight")

    # One process dies: nginx retries on the other, no request fails.
    backends[0].signal(signal.SIGKILL)
    backends[0].process.wait(10)
    statuses = [via.request(path).status for path in ("/feeds/all.rss", f"/s/{code}") * 10]
    assert statuses == [200, 302] * 10

    # Both gone: the feeds of the last `finews build`, gzip_static serving the .gz twin.
    backends[1].signal(signal.SIGKILL)
    backends[1].process.wait(10)
    static = via.request("/feeds/all.rss", {"Accept-Encoding": "gzip"})
    assert static.status == 200 and static.headers["Content-Encoding"] == "gzip"
    assert static.headers["Content-Type"].startswith("application/rss+xml")
    assert b"<rss" in gzip.decompress(static.body)
