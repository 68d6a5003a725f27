"""The stack's SMTP sink (tests/smtp_sink.py) as a mail client sees it, with
the standard library's smtplib: every accepted message becomes one .eml file
in $HD_MAIL_DIR, written whole before the server answers 250; the .fail
control file makes it refuse with 451 (for a sender's retries); a recipient
in bounce.invalid is refused with 550. Nothing in the API sends mail yet, so
this checks the sink that later tests of honeydue-worker rely on. The
libcurl side is tests/unit/smtp_send.c."""
import os
import re
import smtplib
import urllib.parse

from lib import unique

MAIL_DIR = os.environ["HD_MAIL_DIR"]
_URL = urllib.parse.urlsplit(os.environ["SMTP_URL"])
NAME = re.compile(r"\d{8}T\d{6}\.\d{6}Z-\d+\.eml")


def _client():
    return smtplib.SMTP(_URL.hostname, _URL.port, timeout=10)


def _message(token):
    return (f"From: a@example.com\r\nTo: b@example.com\r\nSubject: {token}\r\n\r\n"
            f"first\r\n.\r\n.leading dot\r\n{token}\r\n").encode()


def _files_with(token):
    """{name: bytes} of the kept messages that contain token."""
    found = {}
    for name in os.listdir(MAIL_DIR):
        if name.endswith(".eml") and not name.startswith("."):
            with open(os.path.join(MAIL_DIR, name), "rb") as f:
                data = f.read()
            if token.encode() in data:
                found[name] = data
    return found


def _write_fail(content):
    with open(os.path.join(MAIL_DIR, ".fail"), "w") as f:
        f.write(content)


def test_each_message_is_one_file_written_before_250():
    token = unique("sink")
    body = _message(token)
    with _client() as c:
        refused = c.sendmail("a@example.com", ["b@example.com", "c@example.com"], body)
        assert refused == {}
        code, text = c.noop()
        assert code == 250
    files = _files_with(token)
    assert len(files) == 1, files
    name, data = next(iter(files.items()))
    assert NAME.fullmatch(name), name
    # The envelope as a delivery agent records it, then the message exactly
    # as sent: smtplib's dot-stuffing undone, CRLF kept.
    assert data == (b"Return-Path: <a@example.com>\r\nDelivered-To: b@example.com\r\n"
                    b"Delivered-To: c@example.com\r\n" + body), data
    assert not [n for n in os.listdir(MAIL_DIR) if n.endswith(".tmp")]


def test_fail_file_with_a_count_refuses_that_many_then_removes_itself():
    token = unique("retry")
    _write_fail("2\n")
    try:
        with _client() as c:
            for _ in range(2):
                try:
                    c.sendmail("a@example.com", ["b@example.com"], _message(token))
                    raise AssertionError("the sink accepted a message while .fail asked for 451")
                except smtplib.SMTPDataError as e:
                    assert e.smtp_code == 451, e
                    assert e.smtp_error.startswith(b"4.3.0 "), e
            assert _files_with(token) == {}
            assert not os.path.exists(os.path.join(MAIL_DIR, ".fail"))
            c.sendmail("a@example.com", ["b@example.com"], _message(token))
        assert len(_files_with(token)) == 1
    finally:
        if os.path.exists(os.path.join(MAIL_DIR, ".fail")):
            os.unlink(os.path.join(MAIL_DIR, ".fail"))


def test_empty_fail_file_refuses_until_removed():
    token = unique("down")
    _write_fail("")
    try:
        with _client() as c:
            for _ in range(3):
                try:
                    c.sendmail("a@example.com", ["b@example.com"], _message(token))
                    raise AssertionError("the sink accepted a message while .fail existed")
                except smtplib.SMTPDataError as e:
                    assert e.smtp_code == 451, e
            assert os.path.exists(os.path.join(MAIL_DIR, ".fail"))
            os.unlink(os.path.join(MAIL_DIR, ".fail"))
            c.sendmail("a@example.com", ["b@example.com"], _message(token))
        assert len(_files_with(token)) == 1
    finally:
        if os.path.exists(os.path.join(MAIL_DIR, ".fail")):
            os.unlink(os.path.join(MAIL_DIR, ".fail"))


def test_bounce_invalid_recipients_are_refused_with_550():
    token = unique("bounce")
    with _client() as c:
        try:
            c.sendmail("a@example.com", ["nobody@bounce.invalid"], _message(token))
            raise AssertionError("the sink accepted a bounce.invalid recipient")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["nobody@bounce.invalid"]
            assert code == 550 and text.startswith(b"5.1.1 "), e.recipients
        # One good recipient among them: only that one gets the message.
        refused = c.sendmail("a@example.com", ["nobody@bounce.invalid", "b@example.com"],
                             _message(token))
        assert set(refused) == {"nobody@bounce.invalid"}
    files = _files_with(token)
    assert len(files) == 1
    data = next(iter(files.values()))
    assert b"Delivered-To: b@example.com\r\n" in data
    assert b"bounce.invalid" not in data
