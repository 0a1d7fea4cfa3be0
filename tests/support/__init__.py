"""Test support: what tests build with, imported by name (conftest.py files hold only fixtures and pytest hooks).

- `settings`: the test environment's names, API and hand-off keys, template.yaml, FUNCTION_SETTINGS
- `engines`: the DynamoDB engines tests run on (moto, DynamoDB Local)
- `events`: API Gateway events, a Lambda context, response JSON checked against Stripe's schema
- `contract`: Stripe's published schemas and the service's stated deviations
- `factories`: domain objects with one set of defaults (`a_session`), and malformed inputs (`MALFORMED_URL_TOKENS`)
- `table`: reading and writing the sessions table directly
- `fakes`: in-memory repositories satisfying store/ports.py's Protocols
- `local_service`: `python -m local_gateway run` as a subprocess, and the `service` fixture
- `sdk`: what a client of it got: the JSON behind an SDK object, a URL's token, the demo portal's page
- `webhook_receiver`: a loopback webhook endpoint
- `browser`: Chromium's paths and flags, screenshots, the merchant site stand-in
"""
