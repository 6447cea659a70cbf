"""What `factview dev` prints once its stack is up: addresses, tokens, links to try."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urlencode

from rich.console import Console

from app.auth import Role, token_for
from app.http.serving import RunningServer
from app.settings import Settings
from upstream import dev_seed


def dev_token(settings: Settings, subject: str, role: Role) -> str:
    """A ready-made token for this dev stack's secret (valid for a working day)."""
    return token_for(settings, subject, role, ttl_seconds=12 * 3600)


def web_app_urls(api_url: str, settings: Settings, ids: list[str]) -> list[tuple[str, str]]:
    """The web app's URLs for the banner, as (label, url), the first being the one to open.

    The page reads `#token=` (then keeps it in localStorage) and sends it as a Bearer token:
    the first URL logs in as the first demo customer, the second as staff.
    """
    return [
        ("web app", f"{api_url}/app#token={dev_token(settings, ids[0], 'customer')}"),
        ("web app as staff", f"{api_url}/app#token={dev_token(settings, 'dev-staff', 'staff')}"),
    ]


def print_banner(
    console: Console,
    api_url: str,
    owners: list[RunningServer],
    ids: list[str],
    bootstrap: str,
    mongo_uri: str,
    web_urls: list[tuple[str, str]],
    tokens: dict[str, str],
    env_file: Path,
    publish_topic: str,
) -> None:
    console.print()
    console.print(f"[bold green]factview is up.[/] GraphiQL: [bold]{api_url}/graphql[/]")
    for label, url in web_urls:
        console.print(f"  {label}: [bold]{url}[/]")
    console.print(f"  staff token: {tokens['staff']}")
    console.print(f"  customer token ({ids[0]}): {tokens['customer']}")
    headers = json.dumps({"Authorization": f"Bearer {tokens['staff']}"})
    # GraphiQL fills its headers editor from ?headers= and sends them in connection_init too.
    graphiql_staff = f"{api_url}/graphql?{urlencode({'headers': headers}, quote_via=quote)}"
    console.print(f"  GraphiQL as staff: {graphiql_staff}")
    console.print(f"  customers owner: {owners[0].url}   accounts owner: {owners[1].url}")
    console.print(f"  kafka: {bootstrap}   mongodb: {mongo_uri}")
    console.print(
        f"  watch what factview publishes: KAFKA_BOOTSTRAP_SERVERS={bootstrap} "
        f".venv/bin/factview tail {publish_topic}"
    )
    console.print(f"  demo customers: {', '.join(ids)}")
    console.print(
        f"  seeded: {dev_seed.CUSTOMER} ({dev_seed.NAME}) with {dev_seed.EUR_ACCOUNT} and "
        f"{dev_seed.USD_ACCOUNT}, the article's bank story dated {dev_seed.STORY_START:%Y-%m-%d}"
    )
    console.print(f"  settings for factview commands in another terminal: {env_file}")
    console.print(
        "  try: { customers { nodes { id name totalBalance accounts { id currency balance } } } }"
    )
    console.print("[dim]Ctrl-C stops everything.[/]")
