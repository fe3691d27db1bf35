"""A controlled clock for integration runs in separate processes (test-only; the integration has no test hook).

``run_at(xsoar, when, command, args)`` runs one command like ``XsoarInstance.run_in_subprocess`` (``python -m
Tests.xsoar_local run ...`` with the instance's params, state file and incident), but the child is started as
``python -m Tests.e2e.clock`` with FROZEN_NOW_ENV set: before it hands over to Tests.xsoar_local's runner, it starts
freezegun at that UTC time, ticking (so time goes on from there, as leases, retries and polling need). Everything in
the child that reads the time - ``datetime.now``, ``time.time``, MSAL's token cache - sees the controlled clock; the
emulator (in the test process) keeps the real one.

Clocks of several children: each starts at its ``when`` and ticks; a lease written at a time far from another
child's clock is either expired or impossible (too far ahead) for it, and the integration drops both.
"""
from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from Tests.xsoar_local.harness import RunResult, XsoarInstance

FROZEN_NOW_ENV = 'AZURE_CONTAINMENT_TEST_FROZEN_NOW'


def run_at(xsoar: XsoarInstance, when: datetime, command: str, args: dict | None = None,
           timeout: float = 300) -> RunResult:
    """Run `command` in a child process whose clock starts at `when` (an aware datetime) and ticks."""
    assert xsoar.state_file, 'give the instance a state_file: the children share the integration context through it'
    return xsoar.run_in_subprocess(command, args, timeout=timeout, module='Tests.e2e.clock',
                                   extra_env={FROZEN_NOW_ENV: when.astimezone(UTC).isoformat()})


def main() -> int:
    """The child: freezegun from FROZEN_NOW_ENV (ticking), then Tests.xsoar_local's runner with the same argv."""
    import freezegun

    from Tests.xsoar_local.runner import main as runner_main
    frozen = os.environ.get(FROZEN_NOW_ENV)
    if not frozen:
        sys.stderr.write(f'{FROZEN_NOW_ENV} is not set\n')
        return 2
    with freezegun.freeze_time(datetime.fromisoformat(frozen), tick=True):
        return runner_main(sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
