"""Crash at every write: each Azure-changing command is killed (SIGKILL, in its own process) right after each of its
ARM writes was accepted; the same command run again must leave exactly the fully applied state, and its reverse
exactly the original one, with nothing left behind (crash.invariant_problems)."""
from __future__ import annotations

import time

import pytest

from Tests.reliability import crash
from Tests.reliability.matrix import applied_state
from Tests.reliability.scenarios import COMMANDS, FULL, IP, SAMPLE_CRASH_WRITE, azure_state, difference, run_setup

BY_KEY = {c.key: c for c in COMMANDS}
# The ARM writes of a clean run of each command (test_write_points checks them): one crash test per write.
WRITES = {
    'azure-nsg-block-ip': ['PUT securityRules/xsoar-block-in-v4-8105a23da0',
                           'PUT securityRules/xsoar-block-out-v4-8105a23da0'],
    'azure-nsg-unblock-ip': ['DELETE securityRules/xsoar-block-in-v4-8105a23da0',
                             'DELETE securityRules/xsoar-block-out-v4-8105a23da0'],
    'azure-nsg-block-expire': ['DELETE securityRules/xsoar-block-in-v4-1525163637',
                               'DELETE securityRules/xsoar-block-out-v4-1525163637'],
    'azure-vm-isolate': ['PUT networkSecurityGroups/xsoar-isolation-web-01', 'PUT networkInterfaces/web-01-nic0',
                         'PUT networkInterfaces/web-01-nic1',
                         # the verification's read-only actions: POSTs, so the emulator counts them as writes
                         'POST web-01-nic0/effectiveNetworkSecurityGroups',
                         'POST web-01-nic1/effectiveNetworkSecurityGroups',
                         'POST soc-vnet/listNetworkManagerEffectiveSecurityAdminRules'],
    'azure-vm-unisolate': ['PUT networkInterfaces/web-01-nic0', 'PUT networkInterfaces/web-01-nic1',
                           'DELETE networkSecurityGroups/xsoar-isolation-web-01'],
    'azure-vm-power deallocate': ['POST web-01/deallocate'],
    'azure-vm-snapshot': ['PUT snapshots/xsoar-inc4711-web-01_DataDisk_0-270adcef',
                          'PUT snapshots/xsoar-inc4711-web-01_DataDisk_1-4243a7be',
                          'PUT snapshots/xsoar-inc4711-web-01_OsDisk_1_9dc94fa0e6ca5a6cb7ad17c4e0723338-fde69dd6'],
}
POINTS = [(key, n) for key, writes in WRITES.items() for n in range(1, len(writes) + 1)
          if FULL or n == SAMPLE_CRASH_WRITE]   # the default run: scenarios.py says why this sample


def _label(write: dict) -> str:
    parts = write['path'].split('?', 1)[0].rstrip('/').split('/')
    return f"{write['method']} {parts[-2]}/{parts[-1]}"


@pytest.mark.parametrize('key', list(WRITES))
def test_write_points(emu, tmp_path, key):
    """The crash tests cover every write a clean run makes: the table above is what the command writes."""
    cmd = BY_KEY[key]
    emu.reset(emu.initial_scenario)
    inst = crash.instance_for(emu, str(tmp_path / 'state.json'))
    run_setup(emu, cmd, inst)
    writes = crash.count_writes(emu, inst, cmd)
    assert sorted(_label(w) for w in writes) == sorted(WRITES[key])   # NICs and disks are written in parallel


def test_every_command_is_covered():
    assert set(WRITES) == {c.key for c in COMMANDS}


@pytest.mark.parametrize(('key', 'n'), POINTS, ids=[f'{k} write {n} of {len(WRITES[k])}' for k, n in POINTS])
def test_crash_after_write_then_rerun_and_reverse(emu, tmp_path, key, n):
    cmd = BY_KEY[key]
    applied = applied_state(emu, cmd)
    emu.reset(emu.initial_scenario)
    state_file = str(tmp_path / 'state.json')
    inst = crash.instance_for(emu, state_file)
    run_setup(emu, cmd, inst)
    original = azure_state(emu)
    asked = IP if 'block' in key else None   # the only address a pack rule may hold

    crashed = crash.crash_at(emu, inst, cmd, n, str(tmp_path))
    for lease in crashed.leases.values():   # a lease the killed run left lapses within its TTL
        assert lease['expires'] <= crashed.killed_at + crash.LEASE_TTL_SECONDS + 1, crashed.leases
    problems = crash.invariant_problems(emu, state_file, asked, settled=False)
    assert not problems, f'after the crash at write {n} ({crashed.held["path"]}): {problems}'
    if crashed.leases:
        crash.age_leases(state_file)   # its TTL has passed: the re-run takes it over

    rerun = inst.run_polling(cmd.command, cmd.args, sleep=True, max_sleep=0.2)
    assert rerun[-1].ok, f'the re-run after a crash at write {n} failed:\n{crash.dump(rerun)}'
    time.sleep(0.05)
    after = azure_state(emu)
    assert after == applied, f'not exactly the fully applied state: {difference(after, applied)}'
    assert not crash.invariant_problems(emu, state_file, asked)

    if cmd.reverse is not None:
        name, args = cmd.reverse
        reverse = inst.run_polling(name, args, sleep=True, max_sleep=0.2)
        assert reverse[-1].ok, crash.dump(reverse)
        back = azure_state(emu)
        assert back == original, f'{name} did not restore exactly the original state: {difference(back, original)}'
        assert not crash.invariant_problems(emu, state_file, asked)


@pytest.mark.skipif(not FULL, reason='waits out a real lease TTL (60 s): the full run, tox -e reliability')
def test_stale_lease_of_a_killed_run_is_taken_over_after_its_ttl(emu, tmp_path):
    """Killed while holding edge-nsg's lease (unblock, after its first write): the re-run, started at once, waits
    until the lease lapses (its TTL), takes it over and finishes -- it never writes while the dead run's lease holds."""
    cmd = BY_KEY['azure-nsg-unblock-ip']
    applied = applied_state(emu, cmd)
    emu.reset(emu.initial_scenario)
    state_file = str(tmp_path / 'state.json')
    inst = crash.instance_for(emu, state_file)
    run_setup(emu, cmd, inst)
    crashed = crash.crash_at(emu, inst, cmd, 1, str(tmp_path))
    assert crashed.leases, 'the killed run held no lease'
    lapses = max(lease['expires'] for lease in crashed.leases.values())
    assert lapses <= crashed.killed_at + crash.LEASE_TTL_SECONDS + 1
    emu.clear_writes()
    rerun = inst.run_polling(cmd.command, cmd.args, sleep=True, max_sleep=0.2)
    assert rerun[-1].ok, crash.dump(rerun)
    assert all(write['time'] >= lapses for write in emu.writes()), 'a write was made while the dead run held the lease'
    assert azure_state(emu) == applied
    assert not crash.invariant_problems(emu, state_file, IP)
