"""Named points of a stage's run where the process can be made to stop, to rehearse failures.

``DATAPIPE_STOP_AT=<point>[@<n>]`` makes the process send itself ``SIGSTOP`` the ``n``-th time
(default: the first) it passes ``<point>``; whoever started it then kills it (``kill -9``) or
lets it continue (``kill -CONT``). Without the variable a point costs one environment look-up.
The reliability suite (``tests/reliability/test_kill.py``) uses them to kill each stage at a
known place; an operator can use them to rehearse a failure on a test system.

The points (see ``docs/operations.md``):

``stage:start``
    the checks passed, nothing written yet;
``stage:chunk``
    a chunk of events was written into the temporary output file (``@n``: the n-th chunk);
``atomic:rename``
    an output file is complete under its temporary name, just before it is renamed into place
    (``@n``: the n-th file of the process);
``catalog:register``
    inside the registration transaction, the inputs written and the product not yet.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

#: The environment variable naming the point to stop at.
STOP_AT_ENV = "DATAPIPE_STOP_AT"

_passed: Counter[str] = Counter()


def stop_point(name: str) -> None:
    """Stop the process here (``SIGSTOP`` to itself) if ``DATAPIPE_STOP_AT`` names this pass."""
    wanted = os.environ.get(STOP_AT_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _passed[name] += 1
    if _passed[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGSTOP)
