"""Property-based tests (hypothesis) of issue 9 over hostile block and isolate arguments and the admin's limits:
no unhandled exception, a refusal exactly when the policy (Tests/e2e/policy_oracle.py, written apart from the
integration) refuses - and then no request at all - and for every accepted input the rules written deny (block) or
admit (forensic access) exactly the addresses the policy allows. Many examples against the in-memory ARM of the
unit tests through the integration's real client, a few against the emulator through main()."""
from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import AzureContainment
from Tests.e2e import policy_oracle as oracle
from Tests.e2e.support import blocked_items, instance, network_state, nsg_rules, load_fake_arm

fake_arm = load_fake_arm('policy_fake_arm')

# Addresses near every class boundary the policy draws, anywhere else, and things that are not addresses at all.
V4_SPOTS = ['0.0.0.0', '10.0.0.0', '100.64.0.0', '127.0.0.1', '168.63.129.16', '169.254.169.254', '172.16.0.0',
            '192.168.0.0', '192.0.2.0', '198.51.100.0', '203.0.113.0', '224.0.0.0', '240.0.0.0',
            '255.255.255.255', '8.8.8.8']
V6_SPOTS = ['::', '::1', '::ffff:203.0.113.9', '::ffff:10.1.2.3', '::ffff:127.0.0.1', '2001:db8::', 'fc00::',
            'fe80::', 'ff02::1', '2606:4700::', '::203.0.113.5']


def _near(spot: str, offset: int, length: int) -> str:
    base = ipaddress.ip_address(spot)
    top = 2 ** base.max_prefixlen - 1
    address = type(base)(min(top, max(0, int(base) + offset)))
    return f'{address}/{length}'


v4 = st.one_of(
    st.builds(_near, st.sampled_from(V4_SPOTS), st.integers(-300, 300), st.integers(1, 32)),
    st.builds(lambda n, p: f'{ipaddress.IPv4Address(n)}/{p}', st.integers(0, 2 ** 32 - 1), st.integers(0, 32)))
v6 = st.one_of(
    st.builds(_near, st.sampled_from(V6_SPOTS), st.integers(-300, 300), st.sampled_from([1, 8, 16, 31, 32, 48, 63, 64,
                                                                                         95, 96, 120, 127, 128])),
    st.builds(lambda n, p: f'{ipaddress.IPv6Address(n)}/{p}', st.integers(0, 2 ** 128 - 1), st.integers(0, 128)))
plain = st.sampled_from(V4_SPOTS + V6_SPOTS)
junk = st.sampled_from(['*', 'any', 'Internet', 'AzureCloud', '', ' ', '1.2.3', '1.2.3.4/33', 'fe80::1%eth0',
                        '203.0.113.7 x', '../x', '0.0.0.0/0', '::/0', '01.2.3.4', '[x](https://e.example)'])
value = st.one_of(v4, v4, v6, plain, junk)
# Inputs the default policy accepts (public and documentation space, narrow enough), so that half the examples
# check what is written rather than what is refused.
good = st.one_of(
    st.builds(_near, st.sampled_from(['8.8.8.8', '192.0.2.0', '198.51.100.0', '203.0.113.0', '52.0.0.0', '1.1.1.1']),
              st.integers(-200, 200), st.integers(16, 32)),
    st.builds(_near, st.sampled_from(['2001:db8::', '2606:4700::', '::ffff:203.0.113.9']), st.integers(-200, 200),
              st.sampled_from([32, 48, 64, 112, 127, 128])))
value_lists = st.one_of(st.lists(good, min_size=1, max_size=5), st.lists(value, min_size=0, max_size=5))
policies = st.builds(oracle.Policy, st.sampled_from([8, 16, 24]), st.sampled_from([16, 32, 48]),
                     st.sampled_from([3, 1000]), st.booleans())
directions = st.sampled_from(['Inbound', 'Outbound', 'Both'])


def _params(policy: oracle.Policy) -> dict:
    return {'min_block_prefix_v4': str(policy.min_v4), 'min_block_prefix_v6': str(policy.min_v6),
            'max_ips_per_call': str(policy.max_items), 'allow_internal_block': policy.allow_internal}


def _denied(rules: list[dict], direction: str) -> dict[int, list]:
    """The addresses the pack's block rules of one direction deny, per IP version."""
    side = 'sourceAddressPrefixes' if direction == 'Inbound' else 'destinationAddressPrefixes'
    nets = [ipaddress.ip_network(p) for r in rules if r['name'].startswith('xsoar-block-')
            and r['properties']['direction'] == direction for p in r['properties'].get(side) or []]
    return oracle.addresses(nets)


def _check_block(values: list[str], policy: oracle.Policy, direction: str, run, rules_after, requests_after) -> None:
    """One block call (`run`) checked against the oracle: refused (and nothing sent) exactly when it says so,
    otherwise the NSG's pack rules deny exactly the accepted addresses, in each direction asked."""
    expected = oracle.accepted(values, policy)
    event('block refused' if expected is None else 'block accepted')
    ok, items = run()
    if expected is None:
        assert not ok
        assert {i['Status'] for i in items} <= {'Invalid'}
        assert requests_after() == []
        return
    assert ok
    assert {i['Status'] for i in items} <= {'Blocked', 'AlreadyBlocked'}
    for way in (['Inbound', 'Outbound'] if direction == 'Both' else [direction]):
        assert _denied(rules_after(), way) == oracle.addresses(expected), way
    if direction != 'Both':
        other = 'Outbound' if direction == 'Inbound' else 'Inbound'
        assert _denied(rules_after(), other) == {}


# ---- against the in-memory fake: many examples ----

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=value_lists, policy=policies, direction=directions)
@example(values=['203.0.0.0/16'], policy=oracle.Policy(), direction='Inbound')        # the limits' edges
@example(values=['203.0.0.0/15'], policy=oracle.Policy(), direction='Inbound')
@example(values=['2001:db8::/32'], policy=oracle.Policy(), direction='Outbound')
@example(values=['2001:db8::/31'], policy=oracle.Policy(), direction='Outbound')
@example(values=['203.0.113.1', '203.0.113.2', '203.0.113.3'], policy=oracle.Policy(max_items=3), direction='Both')
@example(values=['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'], policy=oracle.Policy(max_items=3),
         direction='Both')
@example(values=['168.63.129.0/24', '10.1.0.0/16'], policy=oracle.Policy(allow_internal=True), direction='Both')
@example(values=['169.254.169.0/24'], policy=oracle.Policy(allow_internal=True), direction='Both')
@example(values=['::ffff:203.0.113.9', '::ffff:10.0.0.1'], policy=oracle.Policy(), direction='Inbound')
def test_fake_block_denies_exactly_what_the_policy_allows(monkeypatch, values, policy, direction):
    monkeypatch.setattr(AzureContainment, 'backoff', lambda client, attempt, err=None: None)
    arm = fake_arm.FakeArm()
    client = arm.client(**_params(policy))

    def run():
        result = AzureContainment.nsg_block_ip_command(client, {'ip': values, 'nsg_name': 'edge-nsg',
                                                                'direction': direction})
        items = [v for k, v in (result.outputs or {}).items() if k.startswith('AzureContainment.BlockedIP')]
        return result.entry_type != AzureContainment.EntryType.ERROR, items[0] if items else []
    _check_block(values, policy, direction, run, lambda: arm.rules('edge-nsg'), lambda: arm.log)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sources=st.one_of(st.lists(st.one_of(v4, v6, plain, junk), max_size=12),
                         st.lists(st.builds(_near, st.sampled_from(['198.51.100.0', '10.20.30.0', '2001:db8::']),
                                            st.integers(-100, 100), st.sampled_from([24, 28, 32, 64, 128])),
                                  max_size=10)),
       ports=st.one_of(st.lists(st.sampled_from(['22', '3389', '443', '8000-8080', '1-60', '50-100', '1-101', '101']),
                                max_size=3),
                       st.lists(st.one_of(st.sampled_from(['22', '3389', '0-65535', '1-100', '1-101', '8000-8080', '65536',
                                                  '10-5', 'ssh', '', '443', '50-60']),
                                st.builds(lambda a, b: f'{a}-{a + b}', st.integers(0, 65535), st.integers(0, 120))),
                      max_size=4)),
       vm=st.sampled_from(['web-01', 'db-01']))
@example(sources=['198.51.100.1'], ports=['1-100'], vm='web-01')         # the limits' edges, both sides
@example(sources=['198.51.100.1'], ports=['1-101'], vm='web-01')
@example(sources=['198.51.100.1'], ports=['1-60', '50-101'], vm='web-01')
@example(sources=[f'198.51.100.{i}' for i in range(10)], ports=[], vm='web-01')
@example(sources=[f'198.51.100.{i}' for i in range(11)], ports=[], vm='web-01')
@example(sources=['198.51.100.0/24', '2001:db8::/64'], ports=['22'], vm='db-01')
@example(sources=['198.51.100.0/23'], ports=['22'], vm='web-01')
@example(sources=['2001:db8::/63'], ports=['22'], vm='web-01')
def test_fake_isolate_admits_exactly_the_forensic_sources_the_policy_allows(monkeypatch, sources, ports, vm):
    monkeypatch.setattr(AzureContainment, 'backoff', lambda client, attempt, err=None: None)
    arm = fake_arm.FakeArm()
    client = arm.client()
    args = {'vm_name': vm, 'allow_ip': sources, 'allow_ports': ports}
    expected_sources = oracle.accepted(sources, oracle.FORENSIC) if sources else []
    expected_ports = oracle.forensic_ports(ports)
    event('isolate refused' if expected_sources is None or expected_ports is None else 'isolate accepted')
    try:
        result = AzureContainment.vm_isolate_command(client, args)
    except AzureContainment.InputError:
        assert expected_sources is None or expected_ports is None
        assert arm.log == []
        return
    assert expected_sources is not None
    assert expected_ports is not None
    assert result.outputs['Status'] == 'Isolated'
    rules = arm.nsg(f'xsoar-isolation-{vm}')['properties']['securityRules']
    allows = [r['properties'] for r in rules if r['properties']['access'] == 'Allow']
    admitted = [ipaddress.ip_network(p) for a in allows for p in a['sourceAddressPrefixes']]
    assert oracle.addresses(admitted) == oracle.addresses(expected_sources)
    for allow in allows:
        assert (allow['direction'], allow['protocol']) == ('Inbound', 'Tcp')
        spans = [tuple(int(x) for x in (p.split('-') * 2)[:2]) for p in allow['destinationPortRanges']]
        assert {port for low, high in spans for port in range(low, high + 1)} == {
            port for low, high in expected_ports for port in range(low, high + 1)}
    assert result.outputs['ForensicRules'] == AzureContainment.forensic_rule_rows(
        [r for r in rules if r['properties']['access'] == 'Allow'])
    denies = [r['properties'] for r in rules if r['properties']['access'] == 'Deny']
    deny_all = [d for d in denies if d['destinationAddressPrefix'] == '*']
    assert sorted(d['direction'] for d in deny_all) == ['Inbound', 'Outbound']
    assert all(d['sourceAddressPrefix'] == '*' for d in deny_all)
    # and the platform services, denied outbound by their service tags (issue 11)
    assert sorted(d['destinationAddressPrefix'] for d in denies if d not in deny_all) == [
        'AzurePlatformDNS', 'AzurePlatformIMDS', 'AzurePlatformLKM']


# ---- against the emulator through main(): a few examples ----

@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.one_of(st.lists(good, min_size=1, max_size=3), st.lists(st.one_of(v4, v6, plain), min_size=1,
                                                                         max_size=3)),
       policy=policies, direction=directions)
def test_emulator_block_denies_exactly_what_the_policy_allows(emulator_session, values, policy, direction):
    emulator_session.reset()
    xsoar = instance(emulator_session, **_params(policy))
    before = network_state(emulator_session)

    def run():
        res = xsoar.run('azure-nsg-block-ip', {'ip': ','.join(values), 'nsg_name': 'edge-nsg',
                                               'direction': direction})
        return res.ok, blocked_items(res)

    def arm_requests():
        return [e for e in emulator_session.request_log() if e['listener'] == 'arm'
                and '/_emulator' not in e['path']]
    _check_block(values, policy, direction, run, lambda: nsg_rules(emulator_session, 'edge-nsg'), arm_requests)
    if oracle.accepted(values, policy) is None:
        assert network_state(emulator_session) == before
