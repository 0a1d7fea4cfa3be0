"""The webhook receiver in docs/api.md works as shown: it accepts a delivery signed with its secret, refuses others."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from local_gateway.dynamodb_local import free_port, port_answers
from portal_sessions.domain.webhooks import new_signing_secret, signature_header
from tests.support.local_service import ROOT, stop_process


def documented_receiver() -> str:
    webhooks = (ROOT / "docs" / "api.md").read_text().split("\n## Webhooks\n", 1)[1]
    found = re.search(r"```python\n(import stripe\n.*?)```", webhooks, re.DOTALL)
    assert found is not None, "the Webhooks section of docs/api.md has no receiver"
    return found.group(1)


def test_the_documented_receiver_verifies_with_the_official_sdk(tmp_path: Path) -> None:
    secret, port = new_signing_secret(), free_port()
    code = documented_receiver().replace('"whsec_..."', repr(secret)).replace("4242", str(port))
    script = tmp_path / "receiver.py"
    script.write_text(code)
    # Unbuffered: stopped by SIGTERM, it has no chance to flush what it printed
    process = subprocess.Popen([sys.executable, "-u", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not port_answers(port) and time.monotonic() < deadline:
            time.sleep(0.1)  # bounded wait for the receiver to listen
        body = b'{"id": "evt_docs", "object": "event", "type": "billing_portal.session.created"}'
        url = f"http://127.0.0.1:{port}/webhook"
        signed = signature_header(body, secret, int(time.time()))
        forged = signature_header(body, new_signing_secret(), int(time.time()))
        with requests.Session() as http:
            http.trust_env = False
            accepted = http.post(url, data=body, headers={"Stripe-Signature": signed}, timeout=10)
            refused = http.post(url, data=body, headers={"Stripe-Signature": forged}, timeout=10)
        assert (accepted.status_code, refused.status_code) == (200, 400)
    finally:
        stop_process(process)
    assert b"evt_docs billing_portal.session.created" in process.stdout.read()  # type: ignore[union-attr]
