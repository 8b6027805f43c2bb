"""Hostile ticket text, delivered over every channel to real loopback servers: it arrives as
text, never as a header, a mention, a link or a control sequence."""

from __future__ import annotations

import json

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities import factories
from tests.activities.conftest import WEBHOOK_SECRET, ActivitiesFactory
from tests.activities.servers import HttpRecorder, Reply, SmtpCapture
from tierflow.activities import NotifyChannel, TierflowActivities, verify_signature
from tierflow.activities.channels.email import MAX_SUBJECT

INJECTION = "Hi\r\nBcc: evil@example.net\r\nX-Evil: 1\n\nforged body"


def header_names(raw_headers: list[bytes]) -> list[str]:
    return [line.split(b":", 1)[0].decode().lower() for line in raw_headers if line]


class TestEmailHeaders:
    """Subjects and names are one header line each, whatever they hold."""

    async def test_line_breaks_in_the_subject_are_one_header_and_no_bcc(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A subject carrying CR LF and a Bcc is delivered, once, to the recipient only."""
        result = await activities.send_notification(factories.notification(subject=INJECTION))

        assert result.status == "sent"
        [email] = smtp.received
        assert email.rcpt_tos == ["bea@example.com"]
        assert email.message["Subject"] == "Hi Bcc: evil@example.net X-Evil: 1 forged body"
        names = header_names(email.raw_headers)
        assert names.count("subject") == 1
        assert "bcc" not in names
        assert "x-evil" not in names

    @pytest.mark.parametrize("separator", ["\u2028", "\x85", "\v", "\f", "\x1e", "\r"])
    async def test_every_kind_of_line_break_is_folded(
        self, activities: TierflowActivities, smtp: SmtpCapture, separator: str
    ) -> None:
        """Unicode and legacy line separators (which the email library also rejects) too."""
        subject = f"Invoice{separator}Bcc: evil@example.net"

        await activities.send_notification(factories.notification(subject=subject))

        assert smtp.received[0].message["Subject"] == "Invoice Bcc: evil@example.net"

    async def test_recipient_name_cannot_add_recipients(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A display name with a line break, commas and an address stays one quoted name."""
        n = factories.notification(recipient='Eve\r\nBcc: evil@example.net, "X" <x@evil.net>')

        await activities.send_notification(n)

        [email] = smtp.received
        assert email.rcpt_tos == ["bea@example.com"]
        [address] = email.message["To"].addresses
        assert address.addr_spec == "bea@example.com"
        assert address.display_name == 'Eve Bcc: evil@example.net, "X" <x@evil.net>'
        assert "bcc" not in header_names(email.raw_headers)

    async def test_non_ascii_name_and_subject_are_encoded(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """Non-ASCII text is RFC 2047-encoded on the wire and reads back unchanged."""
        n = factories.notification(recipient="Zoë Ångström", subject="Счёт не оплачен ✓")

        await activities.send_notification(n)

        [email] = smtp.received
        assert email.message["To"].addresses[0].display_name == "Zoë Ångström"
        assert email.message["Subject"] == "Счёт не оплачен ✓"
        assert all(line.isascii() for line in email.raw_headers)

    async def test_long_text_is_bounded_and_bidi_overrides_removed(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A 10,000-character subject is cut with an ellipsis; a right-to-left override that
        would make "invoice‮fdp.exe" read as "invoiceexe.pdf" is removed."""
        await activities.send_notification(factories.notification(subject="x" * 10_000))
        await activities.send_notification(
            factories.notification(idempotency_key="k2", subject="invoice\u202efdp.exe")
        )

        long, bidi = smtp.received
        assert len(long.message["Subject"]) == MAX_SUBJECT
        assert long.message["Subject"].endswith("…")
        assert all(len(line) <= 998 for line in long.raw_headers)
        assert bidi.message["Subject"] == "invoicefdp.exe"

    async def test_body_keeps_lines_and_loses_control_characters(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """NUL, ESC and bidi controls go; tabs and line breaks (normalised) stay."""
        body = "line 1\r\nline 2\x00\x1b[31m red\tcol\u2028line 3\u202e"

        await activities.send_notification(factories.notification(body=body))

        assert smtp.received[0].body.rstrip("\n") == "line 1\nline 2[31m red\tcol\nline 3"

    async def test_customer_subject_cannot_write_paragraphs(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A customer subject with blank lines stays inside its quotes in the message."""
        u = factories.customer_update(
            subject='x"\n\nYour account is suspended. Call +1 555 0100.\n\n"',
            customer_name="Ana\nBcc: evil@example.net",
        )

        await activities.notify_customer(u)

        [email] = smtp.received
        assert email.rcpt_tos == ["ana@example.com"]
        assert "\n\nYour account" not in email.body
        assert 'request "x" Your account is suspended. Call +1 555 0100. ""' in email.body
        assert email.message["To"].addresses[0].display_name == "Ana Bcc: evil@example.net"
        assert email.body.startswith("Hi Ana,")


class TestEmailAddresses:
    """Unicode addresses are delivered where SMTP allows it and refused for good otherwise."""

    async def test_internationalised_domain_is_sent_in_ascii(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """`ana@exämple.com` goes to its IDNA form, which every server accepts."""
        await activities.send_notification(factories.notification(address="ana@exämple.com"))

        assert smtp.received[0].rcpt_tos == ["ana@xn--exmple-cua.com"]

    async def test_non_ascii_mailbox_uses_smtputf8(
        self, make_activities: ActivitiesFactory
    ) -> None:
        """A non-ASCII mailbox name is delivered to a server offering SMTPUTF8."""
        with SmtpCapture(smtputf8=True) as server:
            acts = make_activities(smtp_host=server.host, smtp_port=server.port)
            await acts.send_notification(factories.notification(address="zoë@example.com"))

        assert server.received[0].rcpt_tos == ["zoë@example.com"]

    async def test_non_ascii_mailbox_without_smtputf8_is_permanent(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A server that cannot take it gives a permanent failure, not endless retries."""
        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification(address="zoë@example.com"))

        assert caught.value.non_retryable
        assert "SMTPUTF8" in caught.value.message
        assert smtp.received == []

    @pytest.mark.parametrize(
        "address",
        [
            "ana@example.com\r\nBcc: evil@example.net",
            "ana@example.com\x00",
            "ana@exa\u202emple.com",
            "ana@example..com",
        ],
    )
    async def test_hostile_addresses_are_refused_without_sending(
        self, activities: TierflowActivities, smtp: SmtpCapture, address: str
    ) -> None:
        """An address with a line break, a control or an empty label fails permanently."""
        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification(address=address))

        assert caught.value.non_retryable
        assert smtp.received == []


class TestChat:
    """Ticket text in chat cannot mention, broadcast or disguise a link."""

    async def test_mentions_and_links_arrive_escaped(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """`<!channel>`, `<@U123>`, `<https://evil|bank.com>` and `&` reach Slack as entities."""
        n = factories.notification(
            channel=NotifyChannel.chat,
            address="#tier2",
            subject="<!channel> Tom & Jerry",
            body="Pay at <https://evil.example|bank.com> <@U123> <!here>\n@here @channel",
        )

        await activities.send_notification(n)

        text = http.requests[0].json()["text"]
        assert text == (
            "*&lt;!channel&gt; Tom &amp; Jerry*\n"
            "Pay at &lt;https://evil.example|bank.com&gt; &lt;@U123&gt; &lt;!here&gt;\n"
            "@\u2060here @\u2060channel"
        )

    async def test_subject_stays_one_bold_line(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """A line break in the subject cannot end Tierflow's bold title early."""
        n = factories.notification(channel=NotifyChannel.chat, subject="a\nb\x00", body="c")

        await activities.send_notification(n)

        assert http.requests[0].json()["text"] == "*a b*\nc"

    async def test_long_body_is_bounded(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Slack's advised 4,000 characters hold even for a 100,000-character body."""
        n = factories.notification(channel=NotifyChannel.chat, body="y" * 100_000)

        await activities.send_notification(n)

        assert len(http.requests[0].json()["text"]) < 4000


class TestSms:
    """An SMS is plain text without control characters, on one subject line."""

    async def test_controls_are_removed_and_subject_is_one_line(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Escape sequences and bidi overrides from ticket text never reach the phone."""
        n = factories.notification(
            channel=NotifyChannel.sms,
            address="+447700900123",
            subject="Pay\r\nnow\x1b[2J",
            body="Call \u202e0010 555\x07 now\r\nthanks",
        )

        await activities.send_notification(n)

        assert http.requests[0].form()["Body"] == "Pay now[2J: Call 0010 555 now\nthanks"


class TestWebhook:
    """JSON is safe by construction: hostile text arrives exactly, and the signature holds."""

    async def test_hostile_text_round_trips_exactly(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Quotes, braces, controls, bidi and lone surrogates cannot break out of the JSON."""
        subject = 'x","channel":"evil"}\r\n\x00\u202e<!channel>\ud800'
        n = factories.notification(channel=NotifyChannel.webhook, subject=subject)

        await activities.send_notification(n)

        [request] = http.requests
        assert request.body.isascii()
        assert json.loads(request.body)["notification"]["subject"] == subject
        assert verify_signature(
            WEBHOOK_SECRET,
            request.header("X-Tierflow-Timestamp"),
            request.body,
            request.header("X-Tierflow-Signature"),
        )


class TestReceiverAnswers:
    """What a receiver answers reaches the ticket's timeline as one bounded line."""

    async def test_quoted_error_body_is_one_line(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """A multi-line, escape-laden 4xx body is quoted on one line, at most 200 characters."""
        http.script(Reply(400, b"bad\r\nrequest\x1b[31m " + b"z" * 1000, "text/plain"))
        n = factories.notification(channel=NotifyChannel.chat)

        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(n)

        assert caught.value.message.startswith("chat webhook answered 400: bad request[31m z")
        assert "\n" not in caught.value.message
        assert len(caught.value.message) < 250
