"""The file list `tox -e validate` hands to `demisto-sdk secrets`, and the shape of the pack's allow list."""
from __future__ import annotations

from pathlib import Path

from Tests.contract import secrets_scan

ROOT = Path(__file__).resolve().parents[2]
PACK = Path("Packs") / "AzureContainment"


def test_pack_files_cover_code_yaml_docs_and_playbooks_but_not_images():
    files = secrets_scan.pack_files(PACK)
    assert all(not Path(f).is_absolute() and f.startswith("Packs/AzureContainment/") for f in files)
    for expected in ("Integrations/AzureContainment/AzureContainment.py",
                     "Integrations/AzureContainment/AzureContainment.yml",
                     "Integrations/AzureContainment/AzureContainment_description.md",
                     "Playbooks/playbook-Azure_Containment_-_Isolate_VM.yml",
                     "TestPlaybooks/playbook-AzureContainment_Test.yml", "README.md"):
        assert f"Packs/AzureContainment/{expected}" in files
    assert not [f for f in files if f.endswith(".png")]


def test_pack_files_without_git_walks_the_folder(tmp_path):
    pack = tmp_path / "Packs" / "Demo"
    (pack / "Integrations" / "__pycache__").mkdir(parents=True)
    (pack / "README.md").write_text("x")
    (pack / "Integrations" / "Demo.py").write_text("x")
    (pack / "Integrations" / "__pycache__" / "Demo.cpython-311.pyc").write_bytes(b"\0")
    (pack / "Author_image.png").write_bytes(b"\x89PNG")
    files = secrets_scan.pack_files(Path("Packs") / "Demo", root=tmp_path)
    assert files == ["Packs/Demo/Integrations/Demo.py", "Packs/Demo/README.md"]


def test_allow_list_never_ignores_whole_files_or_short_fragments():
    """A `file:` entry would skip a file entirely, and a short entry would hide any token that contains it."""
    entries = [e for e in (ROOT / PACK / ".secrets-ignore").read_text().splitlines() if e.strip()]
    assert entries == sorted(set(entries), key=lambda s: (s.lower(), s)), "keep .secrets-ignore sorted, no repeats"
    assert not [e for e in entries if e.startswith("file:")]
    assert not [e for e in entries if len(e.strip()) < 7], "entries this short mask too much"
