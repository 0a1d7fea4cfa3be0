"""Run the service on one machine without Docker: an HTTP gateway that turns requests into the
API Gateway HTTP API (payload 2.0) events the deployed functions get, routed by template.yaml itself,
in front of an embedded AWS (moto's server mode) for DynamoDB, SSM and Secrets Manager."""

import signal as _signal
import sys as _sys


def _stop_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)  # unwinds like Ctrl-C (every clean-up runs) but prints no traceback


# `python -m local_gateway` (`make run`): Python sets sys.argv[0] to "-m" while it locates the module, so this is
# the runner starting, not a test importing the package. From here on, Ctrl-C or SIGTERM stops it quietly, even
# while it is still starting; a Ctrl-C ignored from the start (a background job) stays ignored.
if _sys.argv[:1] == ["-m"]:
    if _signal.getsignal(_signal.SIGINT) is not _signal.SIG_IGN:
        _signal.signal(_signal.SIGINT, _stop_quietly)
    _signal.signal(_signal.SIGTERM, _stop_quietly)

from .template import layer_dirs as _layer_dirs  # noqa: E402 - after the signals: a Ctrl-C here is quiet too
from .template import load_template as _load_template  # noqa: E402

# The layer's package is importable here as it is in Lambda, where the layer sits on the path.
for _directory in _layer_dirs(_load_template()):
    if str(_directory) not in _sys.path:
        _sys.path.insert(0, str(_directory))
