"""The API's documentation pages work on a machine without internet."""

from __future__ import annotations

import re
from typing import Any


async def _local_assets(http: Any, page: str) -> list[str]:
    r = await http.get(page)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", r.text)
    assert urls, r.text
    return urls


async def test_docs_and_redoc_load_every_file_from_this_server(http: Any) -> None:
    for page in ("/docs", "/redoc"):
        urls = await _local_assets(http, page)
        remote = [u for u in urls if "//" in u]
        assert not remote, (page, remote)
        for url in urls:
            r = await http.get(url)
            assert r.status_code == 200, (page, url)
            assert r.content, url


async def test_the_docs_scripts_fetch_nothing_from_another_site(http: Any) -> None:
    # ReDoc's bundle loads the Redocly logo from its CDN: our CSP refuses it and the
    # browser reports a violation on every visit of /redoc
    for page in ("/docs", "/redoc"):
        for url in await _local_assets(http, page):
            if url.endswith(".js"):
                r = await http.get(url)
                assert "https://cdn." not in r.text, (page, url)
