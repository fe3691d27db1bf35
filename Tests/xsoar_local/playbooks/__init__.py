"""Running XSOAR playbooks locally, as XSOAR runs them (``python -m Tests.xsoar_local playbook ...``).

dt         DT paths and ``${...}``: how a playbook reads the incident context
context    the incident context: how XSOAR stores what commands and scripts write (and sub-playbook contexts)
operators  the built-in condition/filter operators and transformers
values     a task's values: ``simple``, ``complex`` (root, filters, accessor, transformers), condition groups
scripts    the built-in scripts the playbooks use (Print, Set, SetAndHandleEmpty, DeleteContext, VerifyContext)
model      loading a playbook YAML: every construct checked, anything not implemented refused at load time
engine     executing a loaded playbook against an XsoarInstance
"""
