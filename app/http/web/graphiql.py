"""GraphiQL without internet: strawberry's page loads React, GraphiQL and its CSS from unpkg.com.

Those files are byte for byte the ones in the pinned npm packages (strawberry's page checks them
with Subresource Integrity hashes, which the browser still enforces here). `make run` unpacks the
packages into `.venv/graphiql-assets/<package>@<version>/`; when every file the page names is
there, the page is served pointing at `/graphiql-assets/…` on this server instead of the CDN.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

CDN = "https://unpkg.com/"
PREFIX = "/graphiql-assets"
ASSETS = Path(sys.prefix) / "graphiql-assets"
_ASSET = re.compile(r"https://unpkg\.com/([^\"'\s]+)")


def offline_html(html: str, assets: Path = ASSETS) -> str:
    """The IDE page with its CDN URLs pointing here, if every asset is present; else unchanged."""
    names = _ASSET.findall(html)
    if not names or not all((assets / name).is_file() for name in names):
        return html
    return html.replace(CDN, f"{PREFIX}/")


def routes(assets: Path = ASSETS) -> list[BaseRoute]:
    """`/graphiql-assets/…`, when the assets were unpacked."""
    if not assets.is_dir():
        return []
    return [Mount(PREFIX, app=StaticFiles(directory=assets), name="graphiql-assets")]
