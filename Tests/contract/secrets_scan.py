"""`demisto-sdk secrets` over every text file of a pack (tox -e validate runs it).

`demisto-sdk secrets -i` takes files, not a folder (a folder fails with IsADirectoryError), and without -i it
scans only the files git reports as changed against the content repository's master branch. This lists the pack's
files (tracked, plus untracked ones git does not ignore, so a new file is scanned before its first commit) and
hands them to `demisto-sdk secrets` in one call. It runs offline: the pack's .secrets-ignore is its only allow list.

    python -m Tests.contract.secrets_scan [PACK_DIR]      # default Packs/AzureContainment; exit code = the sdk's
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PACK = Path("Packs") / "AzureContainment"
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".zip", ".gz", ".tar", ".pyc"}


def pack_files(pack: Path, root: Path = ROOT) -> list[str]:
    """Text files of `pack` (relative to `root`, as demisto-sdk expects), tracked or untracked-but-not-ignored."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", str(pack)],
                                cwd=root, capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an unpacked source archive)
        listed = [str(p.relative_to(root)) for p in (root / pack).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
    return sorted(f for f in dict.fromkeys(listed)
                  if (root / f).is_file() and Path(f).suffix.lower() not in BINARY_SUFFIXES)


def demisto_sdk() -> str:
    return shutil.which("demisto-sdk") or str(Path(sys.executable).with_name("demisto-sdk"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pack = Path(argv[0]) if argv else DEFAULT_PACK
    files = pack_files(pack)
    if not files:
        print(f"secrets_scan: no files under {pack}", file=sys.stderr)
        return 2
    print(f"secrets_scan: demisto-sdk secrets over {len(files)} files of {pack}", flush=True)
    return subprocess.run([demisto_sdk(), "secrets", "-i", ",".join(files)], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
