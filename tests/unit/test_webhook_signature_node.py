"""The Node SDK verifies our signatures too: stripe-node's `stripe.webhooks.constructEvent`, from the pinned
node_modules (skipped where Node or the package is missing, as `make test` installs them when npm exists; failed
instead under PORTAL_REQUIRE_ALL_ENGINES=1, as every skip is)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from portal_sessions.domain.webhooks import new_signing_secret, signature_header

ROOT = Path(__file__).resolve().parents[2]
VERIFY = """
const Stripe = require('stripe');
const [payload, header, secret] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
try {
  const event = Stripe('sk_test_unused').webhooks.constructEvent(payload, header, secret);
  console.log(JSON.stringify({ok: true, id: event.id}));
} catch (error) {
  console.log(JSON.stringify({ok: false, type: error.type}));
}
"""

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "stripe").is_dir(), reason="no Node or stripe-node"
)


def node_verify(payload: str, header: str, secret: str) -> dict[str, object]:
    done = subprocess.run(
        ["node", "-e", VERIFY], input=json.dumps([payload, header, secret]), cwd=ROOT, capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_stripe_node_verifies_our_signature_and_refuses_another_secret() -> None:
    payload = json.dumps({"id": "evt_node", "object": "event", "type": "billing_portal.session.created"})
    secret = new_signing_secret()
    header = signature_header(payload.encode(), secret, int(time.time()))

    assert node_verify(payload, header, secret) == {"ok": True, "id": "evt_node"}
    assert node_verify(payload, header, new_signing_secret()) == {
        "ok": False, "type": "StripeSignatureVerificationError"
    }  # fmt: skip
