"""Local stand-in for XSOAR's CommonServerUserPython: empty on purpose (XSOAR ships it empty too)."""
