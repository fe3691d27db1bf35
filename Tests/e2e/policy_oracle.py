"""An independent statement of the address policy of issue 9, for the property-based tests: which block and
forensic inputs must be refused, and which addresses the accepted ones stand for. Written from the issue's text with
integer ranges, not from the integration's code, so that the two can disagree."""
from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _span(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr)
    return net.version, int(net.network_address), int(net.broadcast_address)


# Refused whatever the params: unspecified, loopback, multicast, broadcast, 240.0.0.0/4, the two Azure platform
# addresses, IPv4-compatible IPv6 (::/96, which holds :: and ::1) and IPv4-mapped ranges that cannot be converted.
NEVER = [_span(c) for c in ('0.0.0.0/32', '127.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4', '168.63.129.16/32',
                            '169.254.169.254/32', '::/96', 'ff00::/8', '::ffff:0:0/96')]
INTERNAL = [_span(c) for c in ('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16',
                               'fc00::/7', 'fe80::/10')]
MAPPED = _span('::ffff:0:0/96')


class Policy(NamedTuple):
    min_v4: int = 16
    min_v6: int = 32
    max_items: int = 1000
    allow_internal: bool = False


FORENSIC = Policy(24, 64, 10, True)


def _meets(net: Net, spans: list[tuple[int, int, int]]) -> bool:
    first, last = int(net.network_address), int(net.broadcast_address)
    return any(version == net.version and first <= high and low <= last for version, low, high in spans)


def as_net(value: str) -> Net | None:
    """The network an input value names (IPv4-mapped IPv6 converted), or None when it is not an address or CIDR."""
    text = value.strip()
    if not text or text in ('*',) or '%' in text or any(ch.isspace() for ch in text):
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    version, low, high = MAPPED
    if net.version == version and low <= int(net.network_address) and int(net.broadcast_address) <= high:
        net = ipaddress.IPv4Network((int(net.network_address) - low, net.prefixlen - 96))
    return net


def refuses(value: str, policy: Policy) -> bool:
    net = as_net(value)
    if net is None or net.prefixlen == 0 or _meets(net, NEVER):
        return True
    if not policy.allow_internal and _meets(net, INTERNAL):
        return True
    return net.prefixlen < (policy.min_v4 if net.version == 4 else policy.min_v6)


def accepted(values: list[str], policy: Policy) -> list[Net] | None:
    """The networks a call with `values` must act on, or None: the whole call must be refused."""
    if not values or len(values) > policy.max_items or any(refuses(v, policy) for v in values):
        return None
    return [n for n in (as_net(v) for v in values) if n is not None]


def addresses(nets: list[Net]) -> dict[int, list[Net]]:
    """The set of addresses of `nets`, per IP version, in one canonical form (collapsed)."""
    out: dict[int, list[Net]] = {}
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in nets if isinstance(n, ipaddress.IPv6Network)]
    if v4:
        out[4] = list(ipaddress.collapse_addresses(v4))
    if v6:
        out[6] = list(ipaddress.collapse_addresses(v6))
    return out


def forensic_ports(values: list[str]) -> list[tuple[int, int]] | None:
    """The port ranges of allow_ports (default 22, 3389), or None when isolate must refuse them."""
    spans = []
    for value in values or ['22', '3389']:
        match = re.fullmatch(r'(\d{1,5})(?:-(\d{1,5}))?', value.strip())
        if not match:
            return None
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high > 65535 or low > high:
            return None
        spans.append((low, high))
    ports: set[int] = set()
    for low, high in spans:
        ports.update(range(low, high + 1))
        if len(ports) > 100:
            return None
    return spans
