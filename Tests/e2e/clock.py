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

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime

from Tests.xsoar_local.harness import REPO_ROOT, FileContextStore, RunResult, XsoarInstance

FROZEN_NOW_ENV = 'AZURE_CONTAINMENT_TEST_FROZEN_NOW'


def run_at(xsoar: XsoarInstance, when: datetime, command: str, args: dict | None = None,
           timeout: float = 300) -> RunResult:
    """Run `command` in a child process whose clock starts at `when` (an aware datetime) and ticks."""
    import yaml
    assert xsoar.state_file, 'give the instance a state_file: the children share the integration context through it'
    with tempfile.TemporaryDirectory(prefix='xsoar-clock-') as tmp:
        params_path = os.path.join(tmp, 'params.yml')
        with open(params_path, 'w', encoding='utf-8') as handle:
            yaml.safe_dump(xsoar.params, handle)
        cli = [sys.executable, '-m', 'Tests.e2e.clock', 'run', command]
        cli += [f'{name}={json.dumps(value) if isinstance(value, list | dict) else value}'
                for name, value in (args or {}).items()]
        cli += ['--params', params_path, '--state', xsoar.state_file, '--json', '--integration', xsoar.integration,
                '--no-poll']
        if xsoar.incident is not None:
            cli += ['--incident', str(xsoar.incident['id'])]
        env = {**os.environ, **{k: str(v) for k, v in xsoar.env.items() if v is not None},
               FROZEN_NOW_ENV: when.astimezone(UTC).isoformat()}
        env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH', '')) if p)
        completed = subprocess.run(cli, cwd=REPO_ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                                   timeout=timeout, check=False)
    try:
        document = json.loads(completed.stdout)
    except ValueError:
        raise RuntimeError(f'the runner printed no JSON (exit {completed.returncode}):\n{completed.stdout[-2000:]}\n'
                           f'{completed.stderr[-2000:]}') from None
    result = RunResult.from_dict(document['runs'][-1])
    result.process_exit_code = completed.returncode
    result.integration_context = FileContextStore(xsoar.state_file).read()[0]
    return result


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
