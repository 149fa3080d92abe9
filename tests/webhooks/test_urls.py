"""Which webhook URLs are taken: checked without any traffic (IP literals, and localhost from /etc/hosts)."""

from __future__ import annotations

import pytest

from config.settings import Settings
from webhooks.urls import InvalidWebhookUrl, check_url

STRICT = Settings()
LOOPBACK_OK = Settings(webhook_allowed_addresses="loopback", webhook_require_https=False)


@pytest.mark.parametrize(("url", "says"), [
    ("http://8.8.8.8/hook", "must be an https:// URL"),
    ("ftp://8.8.8.8/hook", "must be an https:// URL"),
    ("https://user:pw@8.8.8.8/hook", "must not hold a user name or password"),
    ("https://8.8.8.8/hook#part", "must not have a #fragment"),
    ("https:///hook", "has no host"),
    ("https://10.0.0.7/hook?token=abc", "10.0.0.7 is a private address"),
    ("https://192.168.1.20:8443/hook", "192.168.1.20 is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("https://[::ffff:127.0.0.1]/", "is a loopback address"),
    ("https://127.0.0.1:9/hook", "127.0.0.1 is a loopback address"),
    ("https://localhost/hook", "localhost (127.0.0.1) is a loopback address"),
    ("https://[fe80::1]/", "fe80::1 is a link-local address"),
    ("https://0.0.0.0/", "0.0.0.0 is a reserved address"),
    ("https://bad..host/", "does not resolve"),
    ("https://8.8.8.8/" + "x" * 2100, "at most 2048 characters"),
])
def test_refused_urls_say_why_without_repeating_the_url(url: str, says: str) -> None:
    with pytest.raises(InvalidWebhookUrl) as refused:
        check_url(url, STRICT)
    assert says in str(refused.value)
    assert "token=abc" not in str(refused.value) and "/hook" not in str(refused.value)


def test_a_refused_kind_names_the_setting_that_allows_it() -> None:
    with pytest.raises(InvalidWebhookUrl, match="add private to BOOKSYNC_WEBHOOK_ALLOWED_ADDRESSES"):
        check_url("https://10.0.0.7/", STRICT)


def test_a_public_https_url_is_taken_as_given() -> None:
    assert check_url("https://8.8.8.8/hooks/booksync?k=1", STRICT) == "https://8.8.8.8/hooks/booksync?k=1"


def test_the_settings_can_allow_loopback_over_http() -> None:
    assert check_url("http://127.0.0.1:8080/h", LOOPBACK_OK) == "http://127.0.0.1:8080/h"
    assert check_url("http://localhost:8080/h", LOOPBACK_OK) == "http://localhost:8080/h"
    with pytest.raises(InvalidWebhookUrl, match="private"):
        check_url("http://10.0.0.1/h", LOOPBACK_OK)
