"""The benchmark charts (matplotlib with the Agg backend: PNG files, no display). Only the bench environment
installs matplotlib (requirements-bench.txt); report.py imports this module when it writes the files.

block.png     ARM writes and wall time against the number of addresses: the pack's block against the baseline
              that writes one rule per address
isolate.png   time to isolate a VM against its number of NICs: the pack (NICs written in parallel) against the
              NIC-by-NIC baseline
incident.png  time to contain the demo incident, step by step
A series that a partial run did not measure is left out; a chart with no series is not drawn.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

PACK, BASELINE = '#1f77b4', '#d62728'


def draw_charts(series: dict, out_dir: Path, emulator: dict) -> list[Path]:
    scale = float(((emulator.get('latency') or {}).get('scale')) or 1.0)
    drawn = []
    for name, draw in (('block', _block), ('isolate', _isolate), ('incident', _incident)):
        if series.get(name):
            path = out_dir / f'{name}.png'
            fig = draw(series[name], scale)
            fig.savefig(path, dpi=110, bbox_inches='tight', metadata={'Software': None})
            plt.close(fig)
            drawn.append(path)
    return drawn


def _azure_axis(ax: Any, scale: float, axis: str = 'y') -> None:
    """A second axis in Azure seconds (the run's seconds divided by the latency scale)."""
    if scale == 1.0:
        return
    functions = (lambda s: s / scale, lambda s: s * scale)
    if axis == 'y':
        ax.secondary_yaxis('right', functions=functions).set_ylabel('about that many seconds in Azure')
    else:   # at the bottom, under the run's seconds: the title keeps the top
        second = ax.secondary_xaxis(-0.16, functions=functions)
        second.set_xlabel('about that many seconds in Azure')


def _block(data: dict, scale: float) -> Any:
    fig, (writes, seconds) = plt.subplots(1, 2, figsize=(11, 4.2))
    for who, color, label in (('pack', PACK, 'pack: azure-nsg-block-ip'),
                              ('baseline', BASELINE, 'baseline: one rule per address')):
        side = data.get(who) or {}
        xs = side.get('addresses') or []
        if not xs:
            continue
        writes.plot(xs, side['writes'], 'o-', color=color, label=label)
        measured = side.get('measured') or [True] * len(xs)
        done = [(x, s) for x, s, m in zip(xs, side['seconds'], measured, strict=True) if m]
        projected = [(x, s) for x, s, m in zip(xs, side['seconds'], measured, strict=True) if not m]
        if done:
            seconds.plot(*zip(*done, strict=True), 'o-', color=color, label=f'{label} (measured)')
        if projected:
            seconds.plot(*zip(*([done[-1]] if done else []) + projected, strict=True), 'o--', color=color,
                         mfc='white', label=f'{label} (projected)')
    for ax in (writes, seconds):
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel('addresses blocked in one call (direction Inbound)')
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    writes.set_ylabel('ARM writes per call')
    writes.set_title('ARM writes')
    seconds.set_ylabel(f'wall time, s (latency profile x {scale:g})')
    seconds.set_title('Time to block')
    _azure_axis(seconds, scale)
    fig.tight_layout()
    return fig


def _isolate(data: dict, scale: float) -> Any:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    nics = data['nics']
    for who, color, label in (('pack', PACK, 'pack: NICs written in parallel'),
                              ('baseline', BASELINE, 'baseline: NIC by NIC')):
        if data.get(who):
            ax.plot(nics, data[who], 'o-', color=color, label=label)
    ax.set_xticks(nics)
    ax.set_xlabel('network interfaces of the VM')
    ax.set_ylabel(f'time to isolate, s (latency profile x {scale:g})')
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title('azure-vm-isolate: time against the number of NICs')
    _azure_axis(ax, scale)
    fig.tight_layout()
    return fig


def _incident(data: dict, scale: float) -> Any:
    steps = data['steps']
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(steps) + 1.5))
    start = 0.0
    for i, step in enumerate(steps):
        color = PACK if step.get('containment') else '#9e9e9e'
        ax.barh(i, step['seconds'], left=start, color=color)
        ax.text(start + step['seconds'], i, f" {step['seconds']:.1f} s", va='center', fontsize=8)
        start += step['seconds']
    ax.set_yticks(range(len(steps)), [s['step'] for s in steps], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f'seconds from the start of the incident (latency profile x {scale:g}); blue: containment')
    ax.grid(True, axis='x', alpha=0.3)
    contained = data.get('contained_seconds')
    if contained:
        ax.axvline(contained, color=BASELINE, ls='--', lw=1)
        ax.set_title(f'Demo incident step by step: contained after {contained:.1f} s '
                     f'(about {contained / scale:.0f} s in Azure)', pad=12)
    _azure_axis(ax, scale, axis='x')
    fig.tight_layout()
    return fig
