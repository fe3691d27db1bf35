"""The fault matrix, one test per cell: every Azure-changing command x every fault (Tests/reliability/scenarios.py).
A cell passes when the command either succeeds with Azure fully applied (the faults it rides out) or fails with a
clear error and Azure unchanged (the faults it cannot), and when the README's row is what this run produced."""
from __future__ import annotations

import pytest

from Tests.reliability import matrix
from Tests.reliability.scenarios import COMMANDS, FAULTS, FULL, SAMPLE_CELLS

BY_COMMAND = {c.key: c for c in COMMANDS}
BY_FAULT = {f.key: f for f in FAULTS}
REGENERATE = 'python -m Tests.reliability.matrix --write-readme'
CELLS = matrix.cell_ids() if FULL else list(SAMPLE_CELLS)   # scenarios.py says why the sample


@pytest.mark.parametrize(('command', 'fault'), CELLS, ids=[f'{c} x {f}' for c, f in CELLS])
def test_cell(emu, command, fault):
    cell = matrix.run_cell(emu, BY_COMMAND[command], BY_FAULT[fault])
    matrix.save_cell(cell)
    assert cell.passed, f'{command} x {fault} left Azure half-done ({cell.state}); the user got: {cell.outcome}'
    if BY_FAULT[fault].recovers:
        assert (cell.ok, cell.state) == (True, matrix.APPLIED), cell
        assert cell.retries >= 1 or BY_FAULT[fault].kind == 'expire_tokens' and cell.retries >= 0, cell
    else:
        assert (cell.ok, cell.state) == (False, matrix.UNCHANGED), cell
        assert 'Fix' in cell.error, f'the error does not say how to fix it: {cell.error}'
    assert matrix.readme_rows().get((command, fault)) == cell.row(), \
        f"README.md's row of {command} x {fault} is stale (the run produced: {cell.row()}); run {REGENERATE}"


def test_readme_has_exactly_the_matrix_rows():
    """The README's copy has one row per command x fault and nothing else, with the matrix's header line."""
    assert set(matrix.readme_rows()) == set(matrix.cell_ids()), f'run {REGENERATE}'
    with open(matrix.README, encoding='utf-8') as handle:
        block = matrix.readme_block(handle.read())
    assert block is not None
    assert matrix.HEADER in block
    assert block.startswith(f'{len(COMMANDS) * len(FAULTS)} cells ({len(COMMANDS)} commands x {len(FAULTS)} faults), '
                            f'{len(COMMANDS) * len(FAULTS)} never half-done.'), f'run {REGENERATE}'


def test_the_sample_meets_every_fault_command_and_rollback():
    assert set(SAMPLE_CELLS) <= set(matrix.cell_ids())
    assert {f for _, f in SAMPLE_CELLS} == set(BY_FAULT)
    assert {c for c, _ in SAMPLE_CELLS} == set(BY_COMMAND)
    failing = {c for c, f in SAMPLE_CELLS if not BY_FAULT[f].recovers}
    assert failing >= set(BY_COMMAND) - {'azure-vm-power deallocate'}   # power has nothing to roll back


def test_render_is_deterministic_and_ordered():
    cells = [matrix.Cell(c, f, True, 1, '', matrix.APPLIED) for c, f in reversed(matrix.cell_ids())]
    text = matrix.render(cells)
    assert text == matrix.render(list(reversed(cells)))
    rows = [line for line in text.splitlines() if line.startswith('| azure')]
    assert rows[0].startswith(f'| {COMMANDS[0].key} | {FAULTS[0].key} |')
    assert len(rows) == len(COMMANDS) * len(FAULTS)


def test_clean_error_drops_what_differs_between_runs():
    text = ('Failed to execute azure-vm-isolate. Azure failed. Correlation ID: 0c4f6a0e-1111-2222-3333-444444444444. '
            'Fix: retry https://127.0.0.1:40123 for 11111111-2222-3333-4444-555555555555')
    assert matrix.clean_error(text) == 'Azure failed. Fix: retry https://127.0.0.1:<port> for <id>'
