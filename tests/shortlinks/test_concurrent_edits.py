"""Editors who change one link at the same moment: each gets a real answer, never a 500.

Changes are compare-and-set: a writer that collides backs off and tries again, and one that
keeps colliding is told so with 409 edit_conflict and Retry-After, with the link intact.
"""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from finews.core.errors import problem_type
from tests.shortlinks_support import AUTH, create

EDITORS = 64


async def test_concurrent_edits_of_one_link_all_get_a_real_answer(client: TestClient) -> None:
    code = (await create(client))["code"]
    titles = [f"标题 {i}" for i in range(EDITORS)]

    async def edit(title: str) -> tuple[int, dict[str, object]]:
        response = await client.patch(f"/api/links/{code}", json={"title": title}, headers=AUTH)
        return response.status, await response.json()

    answers = await asyncio.gather(*(edit(title) for title in titles))

    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 409}, statuses
    assert statuses.count(200) >= 1
    for status, body in answers:
        if status == 409:
            assert body["type"] == problem_type("edit_conflict") and code in str(body["detail"])
    applied = {str(body["title"]) for status, body in answers if status == 200}
    final = await (await client.get(f"/api/links/{code}", headers=AUTH)).json()
    assert final["title"] in applied  # the stored title is one an editor was told was saved
    assert final["target"].endswith("/2022/05/24/jimei-library.html")
