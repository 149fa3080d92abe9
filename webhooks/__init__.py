"""Webhooks: events written with the change they report (the outbox), delivered signed, in order per
object, at least once, retried for a day; subscriptions and deliveries in the API and the CLI.

``emit(subject)`` is the one call the rest of booksync makes (``webhooks.outbox``). See docs/webhooks.md.
"""

from webhooks.outbox import emit

__all__ = ["emit"]
