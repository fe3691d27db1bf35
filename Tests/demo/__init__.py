"""The one-command demo (``python -m Tests.demo``, ``tox -e demo``): see Tests/demo/demo.py."""
