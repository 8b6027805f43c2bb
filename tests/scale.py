"""How hard the fuzz and soak tests push: small in ``make test``, full under ``make bench``
(``TIERFLOW_TEST_SCALE=full``)."""

from __future__ import annotations

import os

FULL = os.environ.get("TIERFLOW_TEST_SCALE") == "full"


def scaled(small: int, full: int) -> int:
    """``small`` in the everyday suite, ``full`` when the full scale is asked for."""
    return full if FULL else small
