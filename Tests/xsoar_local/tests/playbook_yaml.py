"""Playbook YAMLs for the runner's tests, shaped as XSOAR exports them (task bodies, taskid, view and the empty
fields every export carries), built from a few lines each. No tests here."""
from __future__ import annotations

import uuid
from typing import Any

import yaml

EXPORT_FIELDS = {'separatecontext': False, 'continueonerrortype': '', 'view': '{"position": {"x": 0, "y": 0}}',
                 'note': False, 'timertriggers': [], 'ignoreworker': False, 'skipunavailable': False, 'quietmode': 0,
                 'isoversize': False, 'isautoswitchedtoquietmode': False}


def simple(value: Any) -> dict:
    return {'simple': value}


def ctx(root: str, **complex_fields: Any) -> dict:
    """A complex value reading ``root`` (with accessor, filters, transformers when given)."""
    return {'complex': {'root': root, **complex_fields}}


def condition(operator: str, left_path: str | None = None, right: Any = None, ignorecase: bool = False,
              left: dict | None = None) -> dict:
    """One condition: the left side a context path (or any value), the right side a literal."""
    cond: dict = {'operator': operator,
                  'left': left or {'value': {'simple': left_path}, 'iscontext': True}}
    if right is not None:
        cond['right'] = {'value': {'simple': right}}
    if ignorecase:
        cond['ignorecase'] = True
    return cond


def _next(nxt: Any) -> dict:
    if nxt is None:
        return {}
    if isinstance(nxt, dict):
        return {k: v if isinstance(v, list) else [v] for k, v in nxt.items()}
    return {'#none#': nxt if isinstance(nxt, list) else [nxt]}


def task(task_id: str, kind: str, name: str = '', nxt: Any = None, body: dict | None = None, **fields: Any) -> dict:
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f'{task_id}-{name}'))
    raw = {'id': task_id, 'taskid': uid, 'type': kind,
           'task': {'id': uid, 'version': -1, 'name': name, 'description': '', 'iscommand': False, 'brand': '',
                    **(body or {})},
           **EXPORT_FIELDS, **fields}
    if nxt is not None:
        raw['nexttasks'] = _next(nxt)
    return raw


def start(nxt: Any = '1') -> dict:
    return task('0', 'start', '', nxt)


def title(task_id: str, name: str, nxt: Any = None) -> dict:
    return task(task_id, 'title', name, nxt, {'type': 'title'})


def command(task_id: str, name: str, cmd: str, args: dict | None = None, nxt: Any = None, brand: str = '',
            **fields: Any) -> dict:
    return task(task_id, 'regular', name, nxt, {'iscommand': True, 'script': f'{brand}|||{cmd}', 'brand': brand,
                                                 'type': 'regular'}, scriptarguments=args or {}, **fields)


def script(task_id: str, name: str, script_name: str, args: dict | None = None, nxt: Any = None,
           **fields: Any) -> dict:
    return task(task_id, 'regular', name, nxt, {'scriptName': script_name, 'type': 'regular'},
                scriptarguments=args or {}, **fields)


def manual(task_id: str, name: str, nxt: Any = None) -> dict:
    return task(task_id, 'regular', name, nxt, {'type': 'regular'})


def conditional(task_id: str, name: str, conditions: dict[str, list], nxt: dict, **fields: Any) -> dict:
    """``conditions``: label -> groups (lists of conditions)."""
    return task(task_id, 'condition', name, nxt, {'type': 'condition'},
                conditions=[{'label': label, 'condition': groups} for label, groups in conditions.items()], **fields)


def choice(task_id: str, name: str, nxt: dict) -> dict:
    return task(task_id, 'condition', name, nxt, {'type': 'condition'})


def collection(task_id: str, name: str, questions: list[dict], nxt: Any = None) -> dict:
    return task(task_id, 'collection', name, nxt, {'type': 'collection'},
                form={'questions': questions, 'title': name, 'description': '', 'sender': '', 'expired': False,
                      'totalanswers': 0},
                message={'to': None, 'subject': None, 'body': {'simple': name}, 'methods': [], 'format': ''})


def subplaybook(task_id: str, name: str, playbook_id: str, inputs: dict | None = None, nxt: Any = None,
                separate: bool = True, loop: dict | None = None, **fields: Any) -> dict:
    raw = task(task_id, 'playbook', name, nxt, {'playbookName': playbook_id, 'playbookId': playbook_id,
                                                 'type': 'playbook'}, scriptarguments=inputs or {}, **fields)
    raw['separatecontext'] = separate
    if loop is not None:
        raw['loop'] = {'iscommand': False, 'exitCondition': '', 'wait': 1, 'max': 100, **loop}
    return raw


def playbook(name: str, tasks: list[dict], inputs: dict | None = None, outputs: list[str] | None = None,
             required: tuple[str, ...] = ()) -> dict:
    """A playbook document. ``inputs``: key -> value spec ({} for none)."""
    return {
        'id': name, 'version': -1, 'name': name, 'description': f'{name} (test)', 'starttaskid': '0',
        'tasks': {t['id']: t for t in tasks},
        'view': '{}',
        'inputs': [{'key': k, 'value': v, 'required': k in required, 'description': k, 'playbookInputQuery': None}
                   for k, v in (inputs or {}).items()],
        'outputs': [{'contextPath': p, 'description': p, 'type': 'unknown'} for p in outputs or []],
        'tests': ['No tests'], 'fromversion': '6.10.0',
    }


def write(directory: Any, document: dict) -> str:
    path = directory / f"playbook-{document['id'].replace(' ', '_')}.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding='utf-8')
    return str(path)
