"""docker-compose.yml, checked without a Docker engine: against the Compose specification's
JSON schema, and against the settings the code actually reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.settings import Settings
from upstream.settings import OwnerSettings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / ".venv" / "compose-spec" / "compose.schema.json"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def env_names(model: type[Any]) -> set[str]:
    return {name.upper() for name in model.model_fields}


def test_compose_file_follows_the_compose_specification() -> None:
    assert SCHEMA.exists(), f"{SCHEMA} is missing: `make test` fetches it (npm pack dclint)"
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose(), schema, cls=jsonschema.Draft7Validator)


def test_a_broken_compose_file_would_be_caught() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = compose()
    broken["services"]["factview"]["depends_on"] = {"mongo": {"condition": "when_ready"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_factview_service_sets_only_settings_the_code_reads() -> None:
    environment = set(compose()["services"]["factview"]["environment"])
    assert environment <= env_names(Settings), environment - env_names(Settings)
    required = {
        "KAFKA_BOOTSTRAP_SERVERS",
        "MONGODB_URI",
        "MONGODB_DATABASE",
        "CUSTOMERS_OWNER_URL",
        "ACCOUNTS_OWNER_URL",
    }
    assert required <= environment, required - environment


def test_api_and_consumer_replicas_scale_apart() -> None:
    services = compose()["services"]
    assert services["factview"]["environment"]["CONSUME"] == "false"
    consumers = services["consumers"]
    assert consumers["command"] == ["factview", "consume"]
    assert consumers["deploy"]["replicas"] > 1
    environment = set(consumers["environment"])
    assert environment <= env_names(Settings), environment - env_names(Settings)
    shared = ("KAFKA_GROUP_ID", "KAFKA_TOPICS", "MONGODB_URI", "MONGODB_DATABASE")
    assert all(
        consumers["environment"][k] == services["factview"]["environment"][k] for k in shared
    )


OWNERS = ["customers", "accounts"]


@pytest.mark.parametrize("service", OWNERS)
def test_owner_services_set_only_owner_settings_and_a_key_source(service: str) -> None:
    environment = set(compose()["services"][service]["environment"])
    assert environment <= env_names(OwnerSettings), environment - env_names(OwnerSettings)
    required = {"KAFKA_BOOTSTRAP_SERVERS", "OWNER_DATABASE_PATH", "OWNER_TOPIC", "AUTH_JWKS_URL"}
    assert required <= environment, required - environment


@pytest.mark.parametrize("service", OWNERS)
def test_owners_verify_tokens_with_factviews_own_auth_settings(service: str) -> None:
    services = compose()["services"]

    def auth(name: str) -> dict[str, str]:
        env = services[name]["environment"]
        return {k: v for k, v in env.items() if k.startswith("AUTH_")}

    assert auth(service) == auth("factview")
    assert auth(service)["AUTH_JWKS_URL"]


def test_only_factview_is_published_on_the_host() -> None:
    services = compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"factview"}
    for owner in OWNERS:
        assert "ports" not in services[owner]


def test_every_service_reaches_the_hosts_it_names() -> None:
    services = compose()["services"]
    env = services["factview"]["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in services
    assert env["MONGODB_URI"].split("//")[1].split(":")[0] in services
    for url in (env["CUSTOMERS_OWNER_URL"], env["ACCOUNTS_OWNER_URL"]):
        assert url.split("//")[1].split(":")[0] in services
