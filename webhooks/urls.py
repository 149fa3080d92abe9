"""What a webhook URL may be: https (unless allowed otherwise), no credentials in it, and a host whose
every address is one booksync may connect to (``providers.addresses``).

Checked when a subscription is created or its URL changed; every delivery checks again, on the
address it actually connects to (DNS may answer differently later). Messages name the host, never the
whole URL: paths and queries of webhook URLs often hold a token.
"""

from __future__ import annotations

import httpx

from config.settings import Settings
from providers.addresses import AddressNotAllowed, HostNotFound, check_host

MAX_URL_LENGTH = 2048
ALLOW_SETTING = "BOOKSYNC_WEBHOOK_ALLOWED_ADDRESSES"


class InvalidWebhookUrl(ValueError):
    """The URL cannot be a webhook receiver; the message says why (without repeating the URL)."""


def refusal(exc: AddressNotAllowed) -> str:
    """A refused address, with the setting that would allow its kind."""
    return f"{exc} (to allow them, add {exc.kind.value} to {ALLOW_SETTING})"


def check_url(url: str, settings: Settings) -> str:
    """The URL in normal form, or InvalidWebhookUrl."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise InvalidWebhookUrl(f"is not a valid URL ({exc})") from None
    schemes = ("https",) if settings.webhook_require_https else ("https", "http")
    if parsed.scheme not in schemes:
        hint = "" if not settings.webhook_require_https else " (BOOKSYNC_WEBHOOK_REQUIRE_HTTPS=false allows http://)"
        raise InvalidWebhookUrl(f"must be an {' or '.join(f'{s}://' for s in schemes)} URL{hint}")
    if not parsed.host:
        raise InvalidWebhookUrl("has no host")
    if parsed.userinfo:
        raise InvalidWebhookUrl("must not hold a user name or password (put a token in the path, or check the signature)")
    if parsed.fragment:
        raise InvalidWebhookUrl("must not have a #fragment")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        check_host(parsed.host, port, settings.webhook_address_policy)
    except AddressNotAllowed as exc:
        raise InvalidWebhookUrl(refusal(exc)) from None
    except HostNotFound as exc:
        raise InvalidWebhookUrl(str(exc)) from None
    return str(parsed)
