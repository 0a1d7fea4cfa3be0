"""Run the service on one machine without Docker: an HTTP gateway that turns requests into the
API Gateway HTTP API (payload 2.0) events the deployed functions get, routed by template.yaml itself,
in front of an embedded AWS (moto's server mode) for DynamoDB, SSM and Secrets Manager."""

import sys as _sys

from .template import layer_dirs as _layer_dirs
from .template import load_template as _load_template

# The layer's package is importable here as it is in Lambda, where the layer sits on the path.
for _directory in _layer_dirs(_load_template()):
    if str(_directory) not in _sys.path:
        _sys.path.insert(0, str(_directory))
