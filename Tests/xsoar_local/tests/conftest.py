"""Fixtures for the xsoar_local tests: every test starts from a clean simulated run."""
import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_XSOAR_LOCAL = os.path.dirname(_HERE)
if _XSOAR_LOCAL not in sys.path:  # the stand-ins are top-level modules, as in XSOAR's container
    sys.path.insert(0, _XSOAR_LOCAL)

import demistomock  # noqa: E402 - after the sys.path insert


@pytest.fixture(autouse=True)
def fresh_demisto():
    """Reset demistomock (params, args, command, entries, logs, sensitive strings, a new context store)."""
    demistomock._reset(context_store=demistomock.MemoryContextStore(),
                       version={'version': '8.9.0', 'buildNumber': '1000000', 'platform': 'xsoar'})
    yield demistomock
    demistomock._reset(context_store=demistomock.MemoryContextStore())
