"""Webhook signing follows the Standard Webhooks convention: the convention's own library verifies it."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.settings import webhook_key
from server.support.notify import webhook_body, webhook_headers

SECRET = "whsec_" + base64.b64encode(b"a-webhook-key-of-thirty-two-bytes!").decode()


def test_the_reference_library_verifies_our_signature() -> None:
    body = webhook_body("d-1", "escalation.created", {"ticket_number": "ABP-000001", "text": "Ωμέγα ☃"})
    headers = webhook_headers(webhook_key(SECRET), "d-1", "escalation.created", body, time.time())
    assert headers["webhook-id"] == "d-1" and headers["webhook-signature"].startswith("v1,")
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["ticket"]["ticket_number"] == "ABP-000001" and payload["event"] == "escalation.created"


def test_the_signature_covers_id_timestamp_and_body() -> None:
    key = webhook_key(SECRET)
    body = webhook_body("d-2", "escalation.created", {"n": 1})
    headers = webhook_headers(key, "d-2", "escalation.created", body, time.time())
    for tampered_body, tampered in ((body.replace(b"1", b"2"), headers),
                                    (body, {**headers, "webhook-id": "d-3"}),
                                    (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)})):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(tampered_body, tampered)
    with pytest.raises(WebhookVerificationError):  # another key
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(body, headers)
    old = webhook_headers(key, "d-2", "escalation.created", body, time.time() - 3600)
    with pytest.raises(WebhookVerificationError):  # replayed an hour later: outside the tolerance
        Webhook(SECRET).verify(body, old)


def test_a_plain_secret_is_the_key_bytes_and_unpadded_base64_is_accepted() -> None:
    assert webhook_key("plain-text-secret") == b"plain-text-secret"
    unpadded = SECRET.rstrip("=")
    assert webhook_key(unpadded) == webhook_key(SECRET)
    body = webhook_body("d-4", "escalation.created", {})
    headers = webhook_headers(webhook_key("plain-text-secret"), "d-4", "escalation.created", body, time.time())
    Webhook(b"plain-text-secret").verify(body, headers)  # a receiver given the same bytes


def test_without_a_key_nothing_claims_a_signature() -> None:
    body = webhook_body("d-5", "escalation.created", {})
    headers = webhook_headers(None, "d-5", "escalation.created", body, time.time())
    assert "webhook-signature" not in headers
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)
