"""The committed trusted-documents manifest is exactly the web app's documents, hashed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.documents import DocumentRefused, ManifestError, TrustedDocuments, digest
from app.web.manifest import MANIFEST, page_documents, render


def test_the_manifest_lists_every_document_the_page_sends() -> None:
    documents = page_documents()
    assert len(documents) == 9
    assert MANIFEST.read_text() == render(documents), "run `factview trusted-documents`"


def test_a_manifest_whose_id_is_not_its_hash_is_refused(tmp_path: Path) -> None:
    manifest = json.loads(MANIFEST.read_text())
    manifest["operations"][0]["body"] += " "
    tampered = tmp_path / "manifest.json"
    tampered.write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="is not its hash"):
        TrustedDocuments.load(tampered, only_listed=True)


def test_resolution_follows_the_persisted_query_convention() -> None:
    trusted = TrustedDocuments.load(MANIFEST, only_listed=True)
    body = next(iter(trusted.bodies.values()))
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": digest(body)}}
    assert trusted.resolve(None, by_hash) == body
    assert trusted.resolve(body, None) == body
    with pytest.raises(DocumentRefused) as refused:
        trusted.resolve(body + " ", None)
    assert refused.value.code == "PERSISTED_QUERY_NOT_IN_LIST"
    with pytest.raises(DocumentRefused) as invalid:
        trusted.resolve(None, {"persistedQuery": {"version": 2, "sha256Hash": digest(body)}})
    assert invalid.value.code == "PERSISTED_QUERY_INVALID"
    # Off, any text runs; listed hashes still resolve.
    open_ = TrustedDocuments.load(MANIFEST, only_listed=False)
    assert open_.resolve("{ __typename }", None) == "{ __typename }"
    assert open_.resolve(None, by_hash) == body
