"""``scripts/build_dataset.py`` rebuilds the committed bundled dataset byte for byte from ../shared/data."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from tests.shared_data import REPO_ROOT, require_shared_data

pytestmark = pytest.mark.shared_data

COMMITTED = REPO_ROOT / "src" / "tsbot" / "data"
SCRIPT = REPO_ROOT / "scripts" / "build_dataset.py"


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    source = require_shared_data()
    out = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(source), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    built, committed = _files(out), _files(COMMITTED)
    assert set(built) <= set(committed), f"built but not committed: {sorted(set(built) - set(committed))}"
    assert set(built) == {k for k in committed if k == "manifest.json" or k.endswith(".csv.gz")}
    for rel, path in built.items():
        new, old = path.read_bytes(), committed[rel].read_bytes()
        if new == old:
            continue
        if rel.endswith(".gz") and gzip.decompress(new) == gzip.decompress(old):
            pytest.fail(f"{rel}: same content, different gzip bytes (another zlib build?)")
        pytest.fail(f"{rel}: rebuilt content differs from the committed file; rerun scripts/build_dataset.py")
