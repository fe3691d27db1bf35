"""What a benchmark session produces: tables of figures (printed at the end of the session), the targets the
suite checks, the series the charts draw, and the files written from them:

    out/bench/results.json   {"generated", "machine", "emulator", "targets": [{name, value, limit, met}],
                              "sections", "series", "benchmarks": every pytest-benchmark result with extra_info}
    out/bench/summary.md     the same as Markdown, with the charts
    out/bench/*.png          the charts (matplotlib, a bench-only dependency)

A complete run (every target measured) also refreshes the committed copy in Tests/benchmarks/results/ (summary.md
and the PNGs) and the block between BENCH_BEGIN / BENCH_END in README.md, so the README shows the latest figures.
A missed or unmeasured target makes the session exit non-zero (conftest.pytest_sessionfinish).
"""
from __future__ import annotations

import collections
import json
import operator
import os
import platform
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = Path(__file__).resolve().parent / 'results'
README = ROOT / 'README.md'
BENCH_BEGIN = '<!-- bench-summary:begin (written by tox -e bench) -->'
BENCH_END = '<!-- bench-summary:end -->'
CHARTS = ('block.png', 'isolate.png', 'incident.png')

COMPARE: dict[str, Callable[[float, float], bool]] = {
    '=': operator.eq, '<=': operator.le, '<': operator.lt, '>=': operator.ge}

# Every target the issue sets, in the order of the summary; a complete run measures each one.
TARGETS = ('entra_requests_per_command', 'block_writes_per_direction_4000', 'parallel_20_succeeded',
           'parallel_20_lost_prefixes', 'parallel_20_duplicate_rules', 'isolate_8_nics_time_ratio',
           'lro_polls_excess', 'cold_start_overhead_ms')


@dataclass
class Target:
    name: str
    value: float
    limit: float
    op: str          # how value compares with limit to be met: = <= < >=
    note: str = ''
    met: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.op not in COMPARE:
            raise ValueError(f'target {self.name}: unknown comparison {self.op!r}; one of {", ".join(COMPARE)}')
        self.met = COMPARE[self.op](self.value, self.limit)


class Report:
    """Rows of named sections, the targets, chart series and run information of one benchmark session."""

    def __init__(self) -> None:
        self.sections: dict[str, list[dict]] = collections.OrderedDict()
        self.notes: dict[str, str] = {}
        self.targets: dict[str, Target] = {}
        self.series: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.started = time.time()

    # -- what the benchmarks record ------------------------------------------------------------------------
    def add(self, section: str, row: dict, note: str | None = None) -> None:
        self.sections.setdefault(section, []).append(dict(row))
        if note:
            self.notes[section] = note

    def target(self, name: str, value: float, limit: float, op: str, note: str = '') -> Target:
        """Record a target (the suite fails at the end when it is not met); a name measured twice keeps the
        worse value."""
        new = Target(name, float(value), float(limit), op, note)
        old = self.targets.get(name)
        if old is None or (old.met and not new.met) or (old.met == new.met and _worse(new, old)):
            self.targets[name] = new
        return self.targets[name]

    def missed(self, complete: bool) -> list[str]:
        """The targets not met, and on a complete run the ones never measured."""
        missed = [f'{t.name} = {_num(t.value)} (must be {t.op} {_num(t.limit)})' for t in self.targets.values()
                  if not t.met]
        if complete:
            missed += [f'{name}: not measured' for name in TARGETS if name not in self.targets]
        return missed

    # -- terminal ------------------------------------------------------------------------------------------
    def render(self) -> list[str]:
        lines: list[str] = []
        for section, rows in self.sections.items():
            columns, cells, widths = _table(rows)
            lines += ['', section]
            if section in self.notes:
                lines.append(f'  ({self.notes[section]})')
            lines.append('  ' + ' | '.join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
            lines.append('  ' + '-+-'.join('-' * w for w in widths))
            for r in cells:
                lines.append('  ' + ' | '.join(v.rjust(w) if _numeric(v) else v.ljust(w)
                                               for v, w in zip(r, widths, strict=True)))
        if self.targets:
            lines += ['', 'Targets']
            for t in self.targets.values():
                lines.append(f"  {'met   ' if t.met else 'MISSED'} {t.name} = {_num(t.value)} "
                             f"(limit {t.op} {_num(t.limit)})")
        return lines

    # -- files ---------------------------------------------------------------------------------------------
    def results(self, benchmarks: list[dict]) -> dict:
        return {'generated': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                'duration_seconds': round(time.time() - self.started, 1),
                'machine': self.info.get('machine') or machine_info(),
                'emulator': self.info.get('emulator', {}),
                'targets': [{k: v for k, v in asdict(t).items() if k != 'op'} | {'op': t.op}
                            for t in self.targets.values()],
                'sections': [{'title': title, 'note': self.notes.get(title), 'rows': rows}
                             for title, rows in self.sections.items()],
                'series': self.series, 'benchmarks': benchmarks}

    def write(self, out_dir: Path, benchmarks: list[dict], docs: bool) -> list[Path]:
        """results.json, summary.md and the charts in out_dir; with docs, also the committed copy
        (Tests/benchmarks/results/) and the README block. Returns the files written."""
        out_dir.mkdir(parents=True, exist_ok=True)
        data = self.results(benchmarks)
        written = [out_dir / 'results.json']
        written[0].write_text(json.dumps(data, indent=2, default=str) + '\n', encoding='utf-8')
        from Tests.benchmarks.charts import draw_charts   # matplotlib: only the bench environment has it
        charts = draw_charts(self.series, out_dir, data['emulator'])
        written += charts
        summary = out_dir / 'summary.md'
        summary.write_text(summary_markdown(data, [p.name for p in charts]), encoding='utf-8')
        written.append(summary)
        if docs:
            DOCS_DIR.mkdir(exist_ok=True)
            for path in [summary, *charts]:
                shutil.copyfile(path, DOCS_DIR / path.name)
                written.append(DOCS_DIR / path.name)
            if update_readme(README, readme_block(data)):
                written.append(README)
        return written


def _worse(new: Target, old: Target) -> bool:
    """Of two values both meeting the limit or both missing it: whether `new` is the one farther from meeting it
    (the larger of two <= values, the farther from an = limit)."""
    if new.op == '=':
        return abs(new.value - new.limit) > abs(old.value - old.limit)
    return new.value > old.value if new.op in ('<=', '<') else new.value < old.value


# ---------------------------------------------------------------------------------------------- markdown
def summary_markdown(data: dict, charts: list[str]) -> str:
    machine, emulator = data['machine'], data['emulator']
    lines = [f"# Azure Containment benchmarks ({data['generated']})", '',
             f"`tox -e bench`, {data['duration_seconds']} s on {machine_line(machine)}.", '',
             *profile_lines(emulator), '', '## Targets', '', *targets_table(data['targets'])]
    for name in charts:
        lines += ['', f'![{name[:-4]}]({name})']
    for section in data['sections']:
        lines += ['', f"## {section['title']}", '']
        if section.get('note'):
            lines += [section['note'], '']
        lines += markdown_table(section['rows'])
    bench_rows = [{'benchmark': b['name'], 'rounds': b.get('rounds'), 'mean ms': b.get('mean_ms'),
                   'min ms': b.get('min_ms'), 'extra': _extra(b.get('extra_info') or {})} for b in data['benchmarks']]
    if bench_rows:
        lines += ['', '## Every benchmark (pytest-benchmark)', '', *markdown_table(bench_rows)]
    return '\n'.join(lines) + '\n'


def readme_block(data: dict) -> str:
    """What the README shows between the markers: when and where, the profile, the targets, the headline tables."""
    lines = [f"Latest `tox -e bench` ({data['generated']}, {data['duration_seconds']} s on "
             f"{machine_line(data['machine'])}):", '', *profile_lines(data['emulator']), '',
             *targets_table(data['targets'])]
    for section in data['sections']:
        if section['title'].startswith(('Block:', 'Isolation:', 'Demo incident', 'Capacity')):
            lines += ['', f"**{section['title']}**", '']
            if section.get('note'):
                lines += [section['note'], '']
            lines += markdown_table(section['rows'])
    return '\n'.join(lines)


def update_readme(path: Path, block: str) -> bool:
    """Replace the text between BENCH_BEGIN and BENCH_END (when both are there); True when the file changed."""
    if not path.is_file():
        return False
    text = path.read_text(encoding='utf-8')
    pattern = re.compile(re.escape(BENCH_BEGIN) + r'.*?' + re.escape(BENCH_END), re.S)
    if not pattern.search(text):
        return False
    new = pattern.sub(lambda _: f'{BENCH_BEGIN}\n{block}\n{BENCH_END}', text, count=1)
    if new == text:
        return False
    path.write_text(new, encoding='utf-8')
    return True


def profile_lines(emulator: dict) -> list[str]:
    latency = emulator.get('latency') or {}
    if not latency.get('enabled'):
        return ['Emulator latency profile: off.']
    eff = latency.get('effective') or {}
    power = ', '.join(f'{k} {_num(v)} s' for k, v in (eff.get('vm_power_seconds') or {}).items())
    other = ', '.join(f'{k.rsplit("/", 1)[-1]} {_num(v)} s' for k, v in (eff.get('operation_seconds') or {}).items())
    scale = latency.get('scale')
    limits = (emulator.get('throttling') or {}).get('limits') or {}
    buckets = ', '.join(f"{kind} {spec.get('bucket')} @{_num(spec.get('refill_per_second'))}/s"
                        for kind, spec in limits.items())
    return [f"Emulator latency profile `{latency.get('profile')}` x {_num(scale)} (durations simulated: NSG write "
            f"{_num(eff.get('nsg_write_seconds'))} s, rule write {_num(eff.get('rule_write_seconds'))} s, NIC write "
            f"{_num(eff.get('nic_write_seconds'))} s, snapshot {_num(eff.get('snapshot_write_seconds'))} s, VM {power}, "
            f"{other}, Retry-After {_num(eff.get('retry_after_seconds'))} s, network delay "
            f"{_num(eff.get('network_delay_seconds'))} s per request): about 1/{_num(1 / scale) if scale else '?'} "
            "of Azure's typical times, same ratios to Retry-After. ARM throttling "
            f"{'on' if (emulator.get('throttling') or {}).get('enabled') else 'off'}"
            + (f' ({buckets}, not compressed).' if buckets else '.')]


def targets_table(targets: list[dict]) -> list[str]:
    return markdown_table([{'target': t['name'], 'value': t['value'], 'limit': f"{t['op']} {_num(t['limit'])}",
                            'met': 'yes' if t['met'] else '**NO**'} for t in targets])


def markdown_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    columns, cells, _ = _table(rows)
    lines = ['| ' + ' | '.join(columns) + ' |', '| ' + ' | '.join('---:' if _numeric_column(cells, i) else '---'
                                                                  for i in range(len(columns))) + ' |']
    lines += ['| ' + ' | '.join(c.replace('|', '\\|') for c in row) + ' |' for row in cells]
    return lines


def machine_info() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as fh:
            cpu = next((line.split(':', 1)[1].strip() for line in fh if line.startswith('model name')), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
    return {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'system': f'{platform.system()} {platform.release()}', 'load_1min_at_start': load}


def machine_line(machine: dict) -> str:
    load = machine.get('load_1min_at_start')
    return (f"{machine.get('cores')} cores ({machine.get('cpu')}), Python {machine.get('python')}, "
            f"{machine.get('system')}" + (f', load {load:.1f} at start' if isinstance(load, float) else ''))


# ---------------------------------------------------------------------------------------------- cells
def _table(rows: list[dict]) -> tuple[list[str], list[list[str]], list[int]]:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    return columns, cells, widths


def _extra(info: dict) -> str:
    return ', '.join(f'{k} {_cell(v)}' for k, v in info.items() if not isinstance(v, (dict, list)))


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return f'{value:,.2f}' if abs(value) < 10 else f'{value:,.1f}'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'{value:,}'
    return str(value)


def _numeric(text: str) -> bool:
    return bool(text) and text.replace(',', '').replace('.', '', 1).lstrip('-').isdigit()


def _numeric_column(cells: list[list[str]], index: int) -> bool:
    values = [row[index] for row in cells if row[index]]
    return bool(values) and all(_numeric(v) for v in values)
