"""Operator commands for a deployed (or local) service: `python -m portal_admin keys …`."""

import local_gateway  # noqa: F401 - puts the layer's portal_sessions package on the path, as Lambda does
