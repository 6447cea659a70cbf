"""Every web app file carries the security headers."""

from __future__ import annotations

import httpx
import pytest

from tests.support.stack import Factview


@pytest.mark.parametrize("path", ["/app", "/app/", "/app/index.html", "/app/app.js"])
async def test_every_web_app_file_carries_the_security_headers(fv: Factview, path: str) -> None:
    async with httpx.AsyncClient(base_url=fv.server.url) as browser:
        response = await browser.get(path)
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
