"""Webhook signatures: what we sign, and how host systems verify it."""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow.activities.signing import sign, signature_headers, verify_signature

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

    @pytest.mark.parametrize(
        "signature",
        [None, "", "sha256=", "sha256=zz", "sha256=é" * 8, "\u00e9", b"\xff", 42, "sha256=\x00"],
    )
    def test_malformed_signature_is_false_not_an_error(self, signature: Any) -> None:
        """A missing, non-ASCII or non-string signature is simply invalid."""
        assert verify_signature("k", int(NOW), b"{}", signature, now=NOW) is False

    @pytest.mark.parametrize(
        "timestamp",
        [
            None,
            "",
            " 1800000000",
            "1800000000 ",
            "+1800000000",
            "1_800_000_000",
            "١٨٠٠٠٠٠٠٠٠",
            "1800000000.5",
            "9" * 5000,
            -1,
            True,
            1.8e9,
            b"1800000000",
        ],
    )
    def test_malformed_timestamp_is_false(self, timestamp: Any) -> None:
        """Only plain ASCII digits (or an int) are a timestamp; anything else fails."""
        signature = sign("k", str(timestamp), b"{}") if isinstance(timestamp, str) else "x"

        assert verify_signature("k", timestamp, b"{}", signature, now=NOW) is False

    def test_bytes_signature_and_str_body_are_accepted(self) -> None:
        """The header may be read as bytes and the body as text."""
        signature = sign("k", int(NOW), "{}").encode()

        assert verify_signature(b"k", str(int(NOW)), "{}", signature, now=NOW)

    @pytest.mark.parametrize("secret", ["", b"", None])
    def test_empty_secret_verifies_nothing(self, secret: Any) -> None:
        """A receiver without a secret configured must not accept everything signed with ''."""
        assert not verify_signature(secret, int(NOW), b"{}", sign("", int(NOW), b"{}"), now=NOW)

    @pytest.mark.parametrize("tolerance", [math.nan, -1.0])
    def test_nan_or_negative_tolerance_fails_closed(self, tolerance: float) -> None:
        """A broken tolerance cannot turn the replay protection off."""
        signature = sign("k", int(NOW), b"{}")

        assert not verify_signature("k", int(NOW), b"{}", signature, tolerance, now=NOW)

    def test_future_timestamps_beyond_tolerance_fail(self) -> None:
        """Clock skew is tolerated both ways, but only within the tolerance."""
        signature = sign("k", int(NOW) + 301, b"{}")

        assert not verify_signature("k", int(NOW) + 301, b"{}", signature, 300, now=NOW)


_ANYTHING = st.one_of(st.none(), st.text(), st.binary(), st.integers(), st.floats(), st.booleans())


class TestVerifySignatureFuzz:
    """Whatever a request carries, verification answers with a bool."""

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(
        secret=_ANYTHING,
        timestamp=_ANYTHING,
        body=_ANYTHING,
        signature=_ANYTHING,
        tolerance=st.one_of(st.floats(), st.integers()),
    )
    def test_never_raises(
        self, secret: Any, timestamp: Any, body: Any, signature: Any, tolerance: Any
    ) -> None:
        """Arbitrary inputs of arbitrary types return False (or True), never raise."""
        result = verify_signature(secret, timestamp, body, signature, tolerance, now=NOW)

        assert isinstance(result, bool)

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(body=st.binary(), signature=st.text())
    def test_only_the_genuine_signature_passes(self, body: bytes, signature: str) -> None:
        """Over any body, the genuine signature verifies and an arbitrary string does not."""
        genuine = sign("k", int(NOW), body)

        assert verify_signature("k", int(NOW), body, genuine, now=NOW)
        assert verify_signature("k", int(NOW), body, signature, now=NOW) is (signature == genuine)
