"""The signature a receiver checks, and the ten-line verification example in docs/webhooks.md."""

from __future__ import annotations

import re
import time

from tests.support.processes import PROJECT_ROOT
from webhooks.signing import SECRET_PREFIX, new_secret, signature_header, verify

BODY = b'{"id":"e1","type":"accounting_synced_record.done"}'


def test_a_header_verifies_with_its_secret_and_nothing_else() -> None:
    secret = new_secret()
    header = signature_header(BODY, [secret], 1_700_000_000)
    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", header)
    assert verify(BODY, header, secret, now=1_700_000_100)
    assert not verify(BODY + b" ", header, secret, now=1_700_000_100), "another body"
    assert not verify(BODY, header, new_secret(), now=1_700_000_100), "another secret"
    assert not verify(BODY, header, secret, now=1_700_000_000 + 301), "too old: a replay"
    assert not verify(BODY, header.replace("t=1700000000", "t=1700000001"), secret, now=1_700_000_100)
    assert not verify(BODY, "v1=abc", secret) and not verify(BODY, "", secret)


def test_during_a_rotation_each_secret_has_its_own_signature() -> None:
    new, old = new_secret(), new_secret()
    header = signature_header(BODY, [new, old])
    assert header.count("v1=") == 2
    assert verify(BODY, header, new) and verify(BODY, header, old)
    assert not verify(BODY, header, new_secret())


def test_secrets_are_long_random_and_say_what_they_are() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(s.startswith(SECRET_PREFIX) and len(s) >= len(SECRET_PREFIX) + 43 for s in secrets)


def _docs_example() -> str:
    text = (PROJECT_ROOT / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    [example] = [block for block in blocks if "def verify" in block]
    return example


def test_the_verification_example_in_the_docs_is_ten_lines_and_works() -> None:
    example = _docs_example()
    assert len(example.strip().splitlines()) <= 10
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 -- our own docs
    docs_verify = namespace["verify"]
    secret, old = new_secret(), new_secret()
    header = signature_header(BODY, [secret, old])
    assert docs_verify(BODY, header, secret) and docs_verify(BODY, header, old)  # type: ignore[operator]
    assert not docs_verify(BODY + b"x", header, secret)  # type: ignore[operator]
    assert not docs_verify(BODY, signature_header(BODY, [secret], int(time.time()) - 3600), secret)  # type: ignore[operator]
