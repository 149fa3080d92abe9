"""Playing the user: consent to an app on the sandbox's page, as a test or the demo does with httpx.

    code = consent(info, realm_id, redirect_uri="http://127.0.0.1:8000/callback", state="xyz")
    tokens = exchange_code(info, code["code"], redirect_uri="http://127.0.0.1:8000/callback")
    tokens = connect(info, realm_id)            # both steps at once

``consent`` fetches ``/connect/oauth2`` like a browser, checks the company is listed, submits the form and
returns the redirect's query (``code``, ``state``, ``realmId``) without following it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from sandboxes.quickbooks.oauth import HARD_EXPIRY_HEADER, SCOPE_ACCOUNTING
from sandboxes.quickbooks.sandbox import SandboxInfo

DEFAULT_REDIRECT_URI = "http://127.0.0.1:9/quickbooks/callback"


def consent(info: SandboxInfo, realm_id: str, *, redirect_uri: str = DEFAULT_REDIRECT_URI, state: str | None = None,
            scope: str = SCOPE_ACCOUNTING, allow: bool = True) -> dict[str, str]:
    state = state or secrets.token_urlsafe(12)
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        page = client.get(info.authorization_endpoint, params={
            "client_id": info.client_id, "response_type": "code", "scope": scope, "redirect_uri": redirect_uri,
            "state": state,
        })
        page.raise_for_status()
        if f'value="{realm_id}"' not in page.text:
            raise LookupError(f"company {realm_id} is not on the consent page")
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        answer = client.post(f"{info.url}/connect/oauth2/consent",
                             data={**fields, "realm_id": realm_id, "action": "allow" if allow else "deny"})
    if answer.status_code != 302:
        raise RuntimeError(f"consent answered {answer.status_code}: {answer.text[:200]}")
    location = answer.headers["location"]
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()} | {"location": location}


def exchange_code(info: SandboxInfo, code: str, *, redirect_uri: str = DEFAULT_REDIRECT_URI,
                  include_hard_expiry: bool = True) -> dict[str, Any]:
    headers = {"Accept": "application/json", **({HARD_EXPIRY_HEADER: "true"} if include_hard_expiry else {})}
    response = httpx.post(info.token_endpoint, auth=(info.client_id, info.client_secret), headers=headers, timeout=10.0,
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    response.raise_for_status()
    return dict(response.json())


def connect(info: SandboxInfo, realm_id: str, *, redirect_uri: str = DEFAULT_REDIRECT_URI) -> dict[str, Any]:
    """Consent and exchange the code: the tokens (``access_token``, ``refresh_token``, ...) for ``realm_id``."""
    code = consent(info, realm_id, redirect_uri=redirect_uri)
    return exchange_code(info, code["code"], redirect_uri=redirect_uri)
