"""Standalone emulator: python -m Tests.azure_emulator --scenario default --ready-file PATH

Writes a JSON file with the URLs, CA bundle and credentials once both listeners accept connections, then serves
until SIGTERM or SIGINT, after which it stops cleanly and removes the ready file. `--latency azure
--latency-scale 0.1 --throttling` turn on Azure-shaped timings and ARM's throttling for this run (the scenario
`benchmark` does both): they become part of the scenario, so a reset to it keeps them.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from .latency import PROFILES
from .scenario import load_scenario
from .server import Emulator, write_ready_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m Tests.azure_emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default", help="scenario name under scenarios/ or a YAML path")
    parser.add_argument("--ready-file", help="where to write the JSON connection details when ready")
    parser.add_argument("--port-login", type=int, default=0, help="Entra ID listener port (0 = any free one)")
    parser.add_argument("--port-arm", type=int, default=0, help="Resource Manager listener port (0 = any free one)")
    parser.add_argument("--latency", choices=sorted(PROFILES), help="a latency profile (latency.py) for this run")
    parser.add_argument("--latency-scale", type=float, default=1.0,
                        help="multiply the latency profile's figures (0.1: ten times faster)")
    parser.add_argument("--throttling", action="store_true", help="turn on ARM's token-bucket throttling")
    args = parser.parse_args(argv)
    if args.latency_scale <= 0:
        parser.error(f"--latency-scale must be > 0, not {args.latency_scale}")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scenario = load_scenario(args.scenario)
    settings = scenario["settings"]
    if args.latency:
        settings["latency"] = {"profile": args.latency, "scale": args.latency_scale}
    if args.throttling:
        settings["throttling"] = {**(settings.get("throttling") or {}), "enabled": True}
    emulator = Emulator(scenario, port_login=args.port_login, port_arm=args.port_arm).start()
    try:
        if args.ready_file:
            write_ready_file(args.ready_file, emulator.info())
        print(f"azure emulator ready: login {emulator.login_url} arm {emulator.arm_url}", file=sys.stderr,
              flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        if args.ready_file:
            with contextlib.suppress(OSError):
                os.remove(args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
