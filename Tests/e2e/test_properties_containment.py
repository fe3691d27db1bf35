"""Property-based tests (hypothesis): block-then-unblock and isolate-then-unisolate return Azure to exactly the
prior state, whatever the addresses, directions, VMs and forensic settings. Run twice: many examples against the
in-memory ARM of the unit tests through the integration's real client (fast), a few against the emulator through
main() (the machine has 2 cores)."""
from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import AzureContainment
from Tests.e2e import policy_oracle as oracle
from Tests.e2e.support import blocked_items, instance, network_state, load_fake_arm

fake_arm = load_fake_arm('containment_fake_arm_props')

ipv4 = st.builds(lambda n, p: str(ipaddress.ip_network(f'{ipaddress.IPv4Address(n)}/{p}', strict=False)),
                 st.integers(min_value=int(ipaddress.IPv4Address('1.0.0.0')),
                             max_value=int(ipaddress.IPv4Address('223.255.255.255'))),
                 st.sampled_from([32, 32, 32, 24, 16, 28]))
ipv6 = st.builds(lambda n, p: str(ipaddress.ip_network(f'{ipaddress.IPv6Address(n)}/{p}', strict=False)),
                 st.integers(min_value=int(ipaddress.IPv6Address('2001:db8::')),
                             max_value=int(ipaddress.IPv6Address('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'))),
                 st.sampled_from([128, 128, 64, 48]))
# Since issue 9 a block accepts only what the instance's address policy allows (default params): these identities
# are properties of accepted input (test_properties_policy.py covers the refusals).
prefix_lists = st.lists(st.one_of(ipv4, ipv6).filter(lambda p: not oracle.refuses(p, oracle.Policy())),
                        min_size=1, max_size=6, unique=True)
directions = st.sampled_from(['Inbound', 'Outbound', 'Both'])
nsgs = st.sampled_from(['web-nsg', 'edge-nsg', 'db-subnet-nsg'])
vms = st.sampled_from(['web-01', 'web-02', 'db-01'])
forensic = st.lists(ipv4.filter(lambda p: not oracle.refuses(p, oracle.FORENSIC)), max_size=2, unique=True)
ports = st.lists(st.sampled_from(['22', '3389', '443', '8000-8080']), min_size=1, max_size=3, unique=True)


def _isolate_args(vm, allow, allow_ports):
    args = {'vm_name': vm, 'allow_ports': ','.join(allow_ports)}
    if allow:
        args['allow_ip'] = ','.join(allow)
    return args


def _fresh_instance(emulator):
    """The emulator back at its scenario, an instance on it, and the network state to come back to."""
    emulator.reset()
    return instance(emulator), network_state(emulator)


def _covered_blocks(first, second):
    """Split a second batch into what the first already covers (AlreadyBlocked) and the rest."""
    nets = [ipaddress.ip_network(p) for p in first]
    return [p for p in second if any(_inside(ipaddress.ip_network(p), n) for n in nets)]


def _inside(net: ipaddress.IPv4Network | ipaddress.IPv6Network,
            other: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if isinstance(net, ipaddress.IPv4Network) and isinstance(other, ipaddress.IPv4Network):
        return net.subnet_of(other)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(other, ipaddress.IPv6Network):
        return net.subnet_of(other)
    return False   # another address family is never inside


# ---- against the in-memory fake: many examples ----

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(prefix_lists, min_size=1, max_size=3), direction=directions, nsg=nsgs)
def test_fake_block_then_unblock_is_identity(monkeypatch, batches, direction, nsg):
    monkeypatch.setattr(AzureContainment, 'backoff', lambda client, attempt, err=None: None)
    arm = fake_arm.FakeArm()
    client = arm.client()
    before = arm.snapshot()
    blocked: list[str] = []
    for batch in batches:
        result = AzureContainment.nsg_block_ip_command(client, {'ip': ','.join(batch), 'nsg_name': nsg,
                                                             'direction': direction})
        items = [v for k, v in result.outputs.items() if k.startswith('AzureContainment.BlockedIP')][0]
        assert {i['Status'] for i in items} <= {'Blocked', 'AlreadyBlocked'}
        blocked += [p for p in batch if p not in _covered_blocks(blocked, [p])]
    AzureContainment.nsg_unblock_ip_command(client, {'ip': ','.join(blocked), 'nsg_name': nsg, 'direction': direction})
    assert arm.snapshot() == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vm=vms, allow=forensic, allow_ports=ports, repeat=st.booleans())
def test_fake_isolate_then_unisolate_is_identity(monkeypatch, vm, allow, allow_ports, repeat):
    monkeypatch.setattr(AzureContainment, 'backoff', lambda client, attempt, err=None: None)
    arm = fake_arm.FakeArm()
    client = arm.client()
    before = arm.snapshot()
    args = _isolate_args(vm, allow, allow_ports)
    assert AzureContainment.vm_isolate_command(client, args).outputs['Status'] == 'Isolated'
    if repeat:
        assert AzureContainment.vm_isolate_command(client, args).outputs['Status'] == 'AlreadyIsolated'
    assert AzureContainment.vm_unisolate_command(client, {'vm_name': vm}).outputs['Status'] == 'Released'
    assert arm.snapshot() == before


# ---- against the emulator through main(): a few examples ----

@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=prefix_lists, direction=directions, nsg=nsgs)
def test_emulator_block_then_unblock_is_identity(emulator_session, batch, direction, nsg):
    xsoar, before = _fresh_instance(emulator_session)
    res = xsoar.run('azure-nsg-block-ip', {'ip': ','.join(batch), 'nsg_name': nsg, 'direction': direction})
    assert res.ok, res.errors
    assert {i['Status'] for i in blocked_items(res)} == {'Blocked'}
    assert network_state(emulator_session) != before
    res = xsoar.run('azure-nsg-unblock-ip', {'ip': ','.join(batch), 'nsg_name': nsg, 'direction': direction})
    assert res.ok
    assert {i['Status'] for i in blocked_items(res)} == {'Unblocked'}
    assert network_state(emulator_session) == before


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vm=vms, allow=forensic, allow_ports=ports)
def test_emulator_isolate_then_unisolate_is_identity(emulator_session, vm, allow, allow_ports):
    xsoar, before = _fresh_instance(emulator_session)
    res = xsoar.run('azure-vm-isolate', _isolate_args(vm, allow, allow_ports))
    assert res.ok, res.errors
    res = xsoar.run('azure-vm-unisolate', {'vm_name': vm})
    assert res.ok, res.errors
    assert network_state(emulator_session) == before
