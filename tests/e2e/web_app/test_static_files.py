"""The web app's static files are compressed and revalidated, and keep their security policy."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.devstack import DevStack


def test_static_files_are_compressed_and_revalidated(stack: DevStack) -> None:
    stack.wait_for(r"factview is up")
    base = f"http://127.0.0.1:{stack.port}"
    static = Path(__file__).resolve().parents[3] / "app" / "http" / "web" / "static"
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}, timeout=10) as http:
        for path, file in [
            ("/app", "index.html"),
            ("/app/app.js", "app.js"),
            ("/app/app.css", "app.css"),
        ]:
            first = http.get(path)
            assert first.status_code == 200, path
            assert first.content == (static / file).read_bytes()  # httpx unzipped it
            assert first.headers["Content-Encoding"] == "gzip", path
            assert first.num_bytes_downloaded < len(first.content) / 2, path
            assert "Accept-Encoding" in first.headers["Vary"]
            assert first.headers["Cache-Control"] == "no-cache", path
            etag = first.headers["ETag"]
            assert etag.startswith('W/"'), etag  # one validator for both encodings
            again = http.get(path, headers={"If-None-Match": etag})
            assert (again.status_code, again.content) == (304, b""), path
            assert again.headers["ETag"] == etag
        # The page keeps its policy, fresh or revalidated.
        page = http.get("/app")
        revalidated = http.get("/app", headers={"If-None-Match": page.headers["ETag"]})
        assert revalidated.status_code == 304
        for response in (page, revalidated):
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        # A client that does not take gzip gets the plain bytes.
        plain = http.get("/app/app.js", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert plain.num_bytes_downloaded == len(plain.content)
