"""Webhook signatures: what we sign, and how host systems verify it."""

from __future__ import annotations

import hashlib
import hmac

from activities.signing import sign, signature_headers, verify_signature

NOW = 1_800_000_000.0


class TestSign:
    """The signature is HMAC-SHA256 over `timestamp.body`."""

    def test_matches_a_hand_computed_hmac(self) -> None:
        """Host systems can verify without our code."""
        expected = hmac.new(b"k", b"1800000000.{}", hashlib.sha256).hexdigest()

        assert sign("k", "1800000000", b"{}") == f"sha256={expected}"

    def test_headers_carry_timestamp_and_signature(self) -> None:
        """The headers name the timestamp that was signed."""
        headers = signature_headers("k", b"{}", now=NOW)

        assert headers["X-Tierflow-Timestamp"] == "1800000000"
        assert headers["X-Tierflow-Signature"] == sign("k", "1800000000", b"{}")


class TestVerifySignature:
    """Verification checks secret, body and freshness."""

    def test_accepts_a_fresh_genuine_signature(self) -> None:
        """Signed now, verified a minute later: valid."""
        signature = sign("k", int(NOW), b"{}")

        assert verify_signature("k", str(int(NOW)), b"{}", signature, 300, now=NOW + 60)

    def test_rejects_a_stale_signature(self) -> None:
        """A replay after the tolerance fails."""
        signature = sign("k", int(NOW), b"{}")

        assert not verify_signature("k", int(NOW), b"{}", signature, 300, now=NOW + 301)

    def test_rejects_tampered_body_or_wrong_secret(self) -> None:
        """Any change to body or secret fails."""
        signature = sign("k", int(NOW), b'{"a":1}')

        assert not verify_signature("k", int(NOW), b'{"a":2}', signature, now=NOW)
        assert not verify_signature("x", int(NOW), b'{"a":1}', signature, now=NOW)

    def test_rejects_a_timestamp_that_is_not_a_number(self) -> None:
        """Garbage timestamps fail instead of raising."""
        assert not verify_signature("k", "yesterday", b"{}", "sha256=00", now=NOW)
