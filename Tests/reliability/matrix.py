"""The fault matrix: every Azure-changing command x every fault the emulator injects, each cell run against the
emulator -- the outcome the user gets and the state Azure is left holding (unchanged or fully applied; anything
else is a failure).

    python -m Tests.reliability.matrix                  run every cell, print the matrix
    python -m Tests.reliability.matrix --write-readme   ... and write out/reliability/fault-matrix.md and the
                                                        README's copy (between the fault-matrix markers)

The tests (test_fault_matrix.py) run the same cells, one test each, and fail when a cell leaves Azure half-done or
when the README's row differs from what the run produced (a stale copy).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict, dataclass

from Tests.e2e.support import last_seq
from Tests.reliability.scenarios import COMMANDS, FAULTS, INCIDENT, Command, Fault, azure_state, difference, \
    run_instance, run_setup
from Tests.xsoar_local.harness import new_incident

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, 'README.md')
OUT_DIR = os.path.join(REPO, 'out', 'reliability')
OUT_FILE = os.path.join(OUT_DIR, 'fault-matrix.md')
CELLS_DIR = os.path.join(OUT_DIR, 'cells')
BEGIN = '<!-- fault-matrix:begin (written by python -m Tests.reliability.matrix --write-readme) -->'
END = '<!-- fault-matrix:end -->'
HEADER = ('| command | fault | outcome the user gets | Azure afterwards |\n'
          '| --- | --- | --- | --- |')
UNCHANGED, APPLIED = 'unchanged', 'fully applied'
GUID = re.compile(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')
MAX_ERROR_CHARS = 600


@dataclass(frozen=True)
class Cell:
    command: str
    fault: str
    ok: bool            # the command's last entry is not an error
    retries: int        # requests sent again after a failed one (as the emulator saw them)
    error: str          # the error the user sees (cleaned of IDs), '' when ok
    state: str          # UNCHANGED, APPLIED, or 'HALF: <resources that differ from both>'

    @property
    def outcome(self) -> str:
        if self.ok:
            return f'success after {self.retries} {"retry" if self.retries == 1 else "retries"}'
        return f'error: {self.error}'

    def row(self) -> str:
        def cell(text: str) -> str:
            return text.replace('|', '\\|').replace('\n', ' ')
        return f'| {cell(self.command)} | {cell(self.fault)} | {cell(self.outcome)} | {cell(self.state)} |'

    @property
    def passed(self) -> bool:
        return self.state in (UNCHANGED, APPLIED)


def clean_error(text: str) -> str:
    """The user's error without what differs between runs (correlation IDs, GUIDs) and without the command prefix."""
    if '**Error:** ' in text:   # an error entry with a table (a rolled-back isolation, a snapshot set): its line
        text = text.split('**Error:** ', 1)[1].split('\n', 1)[0]
    text = re.sub(r'^Failed to execute [\w-]+\. ', '', text.strip())
    text = re.sub(r'https://127\.0\.0\.1:\d+', 'https://127.0.0.1:<port>', text)
    text = re.sub(r' ?Correlation ID: [^ ]+\.', '', text)
    text = GUID.sub('<id>', text)
    text = re.sub(r'\((\w+): [^()]*\)', r'(\1)', text)   # "(Code: Azure's own text)": the code says it
    text = re.sub(r'\s+', ' ', text).strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + '…'


def retries_seen(emu, since: int, cmd: Command, fired_unlogged: bool) -> int:
    """Requests sent again: the target write's attempts beyond the first (one more when a timed-out attempt, which
    the service never saw, is not in the log), plus every request answered 401 (sent again with a fresh token) or
    429/5xx elsewhere."""
    method, path = cmd.target
    log = [e for e in emu.request_log(since) if '/_emulator' not in e['path']]
    if fired_unlogged:   # status 0: the timed-out request, logged only when dropped (maybe after the command)
        log = [e for e in log if e['status']]
    target = [e for e in log if e['listener'] == 'arm' and e['method'] == method and path.lower() in e['path'].lower()]
    others = [e for e in log if e not in target and (e['status'] == 401 or e['status'] == 429 or e['status'] >= 500)]
    return max(0, len(target) - 1 + int(fired_unlogged)) + len(others)


_APPLIED: dict[str, dict] = {}


def _fresh(emu, cmd: Command, cold: bool = False, **params):
    emu.reset(emu.initial_scenario)
    inst = run_instance(emu, **params)
    inst.incident = new_incident(INCIDENT)
    run_setup(emu, cmd, inst)
    if cold:   # the same Azure, an instance that holds no token yet (a fresh engine)
        inst = run_instance(emu, **params)
        inst.incident = new_incident(INCIDENT)
    return inst


def _run(inst, cmd: Command):
    return inst.run_polling(cmd.command, cmd.args, sleep=True, max_sleep=0.2)


def applied_state(emu, cmd: Command) -> dict:
    """Azure after a clean run of the command from its setup (computed once per command and emulator run)."""
    key = f'{id(emu)}:{cmd.key}'
    if key not in _APPLIED:
        inst = _fresh(emu, cmd)
        results = _run(inst, cmd)
        assert results[-1].ok, (cmd.key, results[-1].errors)
        _APPLIED[key] = azure_state(emu)
    return _APPLIED[key]


def run_cell(emu, cmd: Command, fault: Fault) -> Cell:
    applied = applied_state(emu, cmd)
    inst = _fresh(emu, cmd, cold=fault.cold_token, **fault.params)
    before = azure_state(emu)
    since = last_seq(emu)
    spec = dict(fault.spec)
    if fault.at_alone_write:
        spec.update(method=cmd.alone[0], path_contains=cmd.alone[1])
    elif fault.at_target:
        spec.update(method=cmd.target[0], path_contains=cmd.target[1])
    emu.inject_fault(fault.kind, **spec)
    try:
        results = _run(inst, cmd)
        fired_unlogged = fault.kind == 'timeout' and not emu.faults()   # used up: a request timed out
    finally:
        emu.clear_faults()
        emu.release_hold()
    after = azure_state(emu)
    last = results[-1]
    state = UNCHANGED if after == before else APPLIED if after == applied else \
        'HALF: ' + ', '.join(difference(after, applied))
    return Cell(cmd.key, fault.key, last.ok, retries_seen(emu, since, cmd, fired_unlogged),
                '' if last.ok else clean_error(' '.join(last.errors)), state)


def cell_ids() -> list[tuple[str, str]]:
    return [(c.key, f.key) for c in COMMANDS for f in FAULTS]


def render(cells: list[Cell]) -> str:
    """The matrix as markdown: rows in COMMANDS x FAULTS order (the order is fixed, the content has no timings)."""
    order = {key: i for i, key in enumerate(cell_ids())}
    rows = [c.row() for c in sorted(cells, key=lambda c: order[(c.command, c.fault)])]
    passed = sum(c.passed for c in cells)
    return (f'{len(cells)} cells ({len(COMMANDS)} commands x {len(FAULTS)} faults), {passed} never half-done.\n\n'
            + HEADER + '\n' + '\n'.join(rows) + '\n')


def cell_file(command: str, fault: str) -> str:
    name = re.sub(r'[^A-Za-z0-9]+', '_', f'{command}__{fault}').strip('_')
    return os.path.join(CELLS_DIR, name + '.json')


def save_cell(cell: Cell) -> None:
    os.makedirs(CELLS_DIR, exist_ok=True)
    with open(cell_file(cell.command, cell.fault), 'w', encoding='utf-8') as handle:
        json.dump(asdict(cell), handle, indent=1, sort_keys=True)


def load_cells() -> list[Cell] | None:
    """The cells the test run saved, or None when one is missing (a partial run writes no matrix)."""
    cells = []
    for command, fault in cell_ids():
        path = cell_file(command, fault)
        if not os.path.exists(path):
            return None
        with open(path, encoding='utf-8') as handle:
            cells.append(Cell(**json.load(handle)))
    return cells


def write_matrix(cells: list[Cell]) -> str:
    os.makedirs(OUT_DIR, exist_ok=True)
    text = render(cells)
    with open(OUT_FILE, 'w', encoding='utf-8') as handle:
        handle.write('# Fault matrix (generated by the test run)\n\n' + text)
    return text


def readme_block(readme_text: str) -> str | None:
    """The matrix as the README holds it (between the markers), or None without markers."""
    start, end = readme_text.find(BEGIN), readme_text.find(END)
    if start < 0 or end < start:
        return None
    return readme_text[start + len(BEGIN):end].strip('\n') + '\n'


def readme_rows() -> dict[tuple[str, str], str]:
    """(command, fault) -> the README's row."""
    with open(README, encoding='utf-8') as handle:
        block = readme_block(handle.read()) or ''
    rows = {}
    for line in block.splitlines():
        parts = [p.strip() for p in re.split(r'(?<!\\)\|', line)[1:-1]]
        if len(parts) == 4 and parts[0] not in ('command', '---'):
            rows[(parts[0].replace('\\|', '|'), parts[1].replace('\\|', '|'))] = line
    return rows


def write_readme(text: str) -> None:
    with open(README, encoding='utf-8') as handle:
        readme = handle.read()
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise SystemExit(f'README.md has no {BEGIN} ... {END} markers')
    readme = readme[:start + len(BEGIN)] + '\n' + text + readme[end:]
    with open(README, 'w', encoding='utf-8') as handle:
        handle.write(readme)


def update_readme_rows(cells: list[Cell]) -> None:
    with open(README, encoding='utf-8') as handle:
        readme = handle.read()
    rows = readme_rows()
    for cell in cells:
        old = rows.get((cell.command, cell.fault))
        if old is None:
            raise SystemExit(f'README.md has no row for {cell.command} x {cell.fault}: run --write-readme without -k')
        readme = readme.replace(old + '\n', cell.row() + '\n', 1)
    with open(README, 'w', encoding='utf-8') as handle:
        handle.write(readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m Tests.reliability.matrix', description=__doc__.split('\n')[0])
    parser.add_argument('--write-readme', action='store_true', help="also write the README's copy")
    parser.add_argument('-k', default='', help='only cells whose "command fault" contains this text (with '
                        '--write-readme: only their rows are rewritten; out/ is not written)')
    options = parser.parse_args(argv)
    from Tests.azure_emulator import Emulator
    cells = []
    with Emulator('default') as emu:
        for cmd in COMMANDS:
            for fault in FAULTS:
                if options.k.lower() not in f'{cmd.key} {fault.key}'.lower():
                    continue
                cell = run_cell(emu, cmd, fault)
                sys.stderr.write(cell.row() + '\n')
                cells.append(cell)
    text = render(cells) if options.k else write_matrix(cells)
    if options.write_readme and not options.k:
        write_readme(text)
    elif options.write_readme:   # only the rows of the cells run
        update_readme_rows(cells)
    sys.stdout.write(text)
    return 0 if all(c.passed for c in cells) else 1


if __name__ == '__main__':
    sys.exit(main())
