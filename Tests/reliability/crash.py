"""Crash at the n-th write: the command runs in its own process (python -m Tests.xsoar_local run, as an engine runs
it), the emulator holds its n-th accepted ARM write (applied, the response not yet sent), the process is killed
with SIGKILL, and the hold is released to a dead socket. What is left is then re-run and reversed in this process
with the same instance (params and integration context: the state file the killed process used). No tests here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import yaml

from Tests.reliability.scenarios import INCIDENT, ISOLATION_NSG, NET, VM, Command, run_instance
from Tests.xsoar_local.harness import FileContextStore, new_incident

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEASES_KEY = 'azure_containment_leases'   # the integration's CTX_LEASES_KEY
LEASE_TTL_SECONDS = 60                    # the integration's LEASE_TTL_SECONDS
HOLD_WAIT_SECONDS = 60


@dataclass
class Crash:
    n: int
    held: dict               # the held write: method, path
    killed_at: float         # time.time() of the SIGKILL
    leases: dict             # the leases the killed process left in the integration context


def instance_for(emu, state_file: str):
    inst = run_instance(emu, state_file=state_file)
    inst.incident = new_incident(INCIDENT)
    return inst


def count_writes(emu, inst, cmd: Command) -> list[dict]:
    """The ARM writes a clean run of the command makes from the current state (polling followed)."""
    emu.clear_writes()
    results = inst.run_polling(cmd.command, cmd.args, sleep=True, max_sleep=0.2)
    assert results[-1].ok, (cmd.key, results[-1].errors)
    return emu.writes()


def crash_at(emu, inst, cmd: Command, n: int, tmp_dir: str) -> Crash:
    """Runs the command in a child process and SIGKILLs it right after its n-th ARM write was accepted."""
    params_path = os.path.join(tmp_dir, 'params.yml')
    with open(params_path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(inst.params, handle)
    emu.clear_writes()
    fault = emu.hold_write(n, timeout_seconds=HOLD_WAIT_SECONDS + 30)
    cli = [sys.executable, '-m', 'Tests.xsoar_local', 'run', cmd.command,
           *[f'{name}={value}' for name, value in cmd.args.items()],
           '--params', params_path, '--state', inst.state_file, '--json', '--incident', INCIDENT, '--no-poll']
    env = {**os.environ, **{k: str(v) for k, v in inst.env.items() if v is not None},
           'PYTHONPATH': os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH', '')) if p)}
    child = subprocess.Popen(cli, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    try:
        held = None
        deadline = time.monotonic() + HOLD_WAIT_SECONDS
        while held is None and time.monotonic() < deadline and child.poll() is None:
            records = [h for h in emu.holds(1.0, fault['id']) if h['fault_id'] == fault['id'] and h['state'] == 'held']
            held = records[0] if records else None
        if held is None:
            out, err = child.communicate(timeout=30)
            raise AssertionError(f'{cmd.key}: write {n} was never held (the run made fewer writes?); exit '
                                 f'{child.returncode}\n{out.decode()[-2000:]}\n{err.decode()[-2000:]}')
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        killed_at = time.time()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        emu.release_hold()
        emu.clear_faults()
    context = FileContextStore(inst.state_file).read()[0]
    return Crash(n, held, killed_at, dict(context.get(LEASES_KEY) or {}))


def age_leases(state_file: str) -> None:
    """Moves every lease's expiry into the past, as if its TTL had run out (the real wait: test_stale_lease_...)."""
    store = FileContextStore(state_file)
    context, version = store.read()
    leases = context.get(LEASES_KEY) or {}
    for lease in leases.values():
        lease['expires'] = time.time() - 1
    store.write(context, version)


def invariant_problems(emu, state_file: str, asked_ip: str | None, settled: bool = True) -> list[str]:
    """What must never be left: a NIC on an isolation NSG whose original is not recorded on both (NIC tag and the
    NSG's record tag), a pack rule beyond the address asked, a lease that outlives its TTL -- at any moment, right
    after a crash too -- and, once a run has finished (`settled`), an isolation NSG no NIC uses (an orphan; a crash
    between creating it and moving the first NIC leaves one until the re-run)."""
    problems = []
    resources = {rid.lower(): body for rid, body in emu.state()['resources'].items()}
    nics = {rid: body for rid, body in resources.items() if '/networkinterfaces/' in rid and rid.count('/') == 8}
    on_iso = [rid for rid, nic in nics.items()
              if str(((nic.get('properties') or {}).get('networkSecurityGroup') or {}).get('id', '')).lower()
              == ISOLATION_NSG]
    iso = resources.get(ISOLATION_NSG)
    if settled and iso is not None and not on_iso:
        problems.append('orphaned isolation NSG: no NIC uses it')
    for rid in on_iso:
        tags = nics[rid].get('tags') or {}
        records = [k for k in ((iso or {}).get('tags') or {}) if k.startswith('xsoar-nic-')]
        if 'xsoar-original-nsg' not in tags or not records:
            problems.append(f'{rid.rsplit("/", 1)[-1]} is on the isolation NSG without a record of its original')
    for rid, body in resources.items():
        if '/networksecuritygroups/' not in rid or rid.count('/') != 8:
            continue
        for rule in (body.get('properties') or {}).get('securityRules') or []:
            if not str(rule.get('name', '')).startswith('xsoar-block-'):
                continue
            p = rule.get('properties') or {}
            prefixes: set[str] = {str(x) for x in (p.get('sourceAddressPrefixes') or []) +
                                  (p.get('destinationAddressPrefixes') or []) +
                                  [p.get('sourceAddressPrefix'), p.get('destinationAddressPrefix')]
                                  if x not in (None, '*')}
            if asked_ip is None or prefixes - {asked_ip, f'{asked_ip}/32'}:
                problems.append(f"pack rule {rule['name']} holds {sorted(prefixes)} (asked: {asked_ip})")
    now = time.time()
    for key, lease in (FileContextStore(state_file).read()[0].get(LEASES_KEY) or {}).items():
        if float(lease.get('expires', 0)) > now + LEASE_TTL_SECONDS:
            problems.append(f'lease on {key.rsplit("/", 1)[-1]} expires beyond its TTL')
    return problems


def dump(results) -> str:
    return json.dumps([{'errors': r.errors, 'readable': r.readable[-1500:]} for r in results], indent=1)


__all__ = ['NET', 'VM', 'Crash', 'age_leases', 'count_writes', 'crash_at', 'dump', 'instance_for',
           'invariant_problems']
