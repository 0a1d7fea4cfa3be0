"""The service's one source of the current time, in unix seconds; tests replace `now` to move time."""

import time


def now() -> int:
    return int(time.time())
