"""Tryton 8.2 over JSON-RPC (``/<database>/rpc/``), logged in as a user with ``common.db.login``.

Why JSON-RPC and not the REST API: REST needs a user application key, and only an administrator can
validate one, so a connection would need an admin's help before it could work; JSON-RPC accepts the
user's own login and password. Why a session and not HTTP Basic on every call: Basic auth makes
Tryton hash the password on every request (about 110 ms each), a session is checked in
microseconds. Sessions last long (30 days) but buttons such as ``post`` demand a recently used
one; either way an expired session answers 401, and the client logs in again once and repeats
the call.

Every ``model.*`` call ends with the context, taken once per session from
``res.user.get_preferences`` with the connection's ``company`` forced into it.

Connection settings (not secret): ``url`` (e.g. ``http://127.0.0.1:8000``), ``database``,
``post_documents`` (default false: pushed invoices stay drafts), ``company`` (a company id; default:
the user's current company), ``page_size`` (default 100). Credentials: ``username``, ``password``.
"""

from providers.tryton.adapter import TrytonProvider

__all__ = ["TrytonProvider"]
