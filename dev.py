#!/usr/bin/env python3
"""Bootstrap for a fresh machine: needs only Python 3.11+.

    python3 dev.py serve   # install runtime deps into .venv, start Brygga (embedded PostgreSQL)
    python3 dev.py test    # install runtime + test deps into .venv, run the whole test suite

Extra arguments go to `python -m service serve` or to pytest. Dependencies are
installed only when the pinned requirement files changed since the last install.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"


def _ensure_venv(requirements: str) -> None:
    """Create .venv and install `requirements` unless the same files were installed before."""
    if sys.version_info < (3, 11):
        sys.exit(f"Brygga needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256()
    for name in ("requirements.txt", requirements):
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / f".installed-{Path(requirements).stem}"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    print(f"installing {requirements}", flush=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(ROOT / requirements)],
        check=True,
    )
    stamp.write_text(digest.hexdigest())


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    os.chdir(ROOT)
    if command == "serve":
        _ensure_venv("requirements.txt")
        os.execv(PYTHON, [str(PYTHON), "-m", "service", "serve", *rest])
    if command == "test":
        _ensure_venv("requirements-dev.txt")
        os.execv(PYTHON, [str(PYTHON), "-m", "pytest", *rest])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
