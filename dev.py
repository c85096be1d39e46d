#!/usr/bin/env python3
"""Bootstrap for a fresh machine: needs only Python 3.11+.

    python3 dev.py serve   # install runtime deps into .venv, start Brygga (embedded PostgreSQL, BRYGGA_DEV=1)
    python3 dev.py test    # install runtime + test deps into .venv (Chromium and axe-core for the browser
                           # tests, SoftHSM2 and the npm oidc-provider for theirs where they can be
                           # installed), check
                           # with ruff and mypy, run every test (in parallel on every core)
    python3 dev.py lint    # only ruff and mypy

Extra arguments go to `python -m service serve` or to pytest; with extra arguments `test` runs only
pytest (a chosen test is being worked on). `serve` sets BRYGGA_DEV=1:
development keys and the development sign-in, which `python -m service serve` alone
never makes (it stops instead, naming BRYGGA_JWKS or BRYGGA_KEYRING). Dependencies are
installed only when the pinned requirement files changed since the last install.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"


def _ensure_venv(requirements: str) -> None:
    """Create .venv and install `requirements` unless the same files were installed before."""
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


def _ensure_chromium() -> None:
    """Headless Chromium for the browser tests, from Debian's packages when it is missing and we may install.

    Without it (no root, no apt), the browser tests skip and say why; everything else runs.
    """
    if shutil.which("chromium") or os.environ.get("BRYGGA_SKIP_BROWSER_INSTALL"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("chromium is not installed and cannot be installed here (needs root and apt-get): browser tests will skip",
              flush=True)
        return
    print("installing chromium and chromium-driver (Debian packages) for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "chromium-driver"],
                   check=True, env=env)


OIDC_PROVIDER = ROOT / "tests" / "oidc"


def _ensure_oidc_provider() -> None:
    """The tests' OpenID provider (npm oidc-provider, pinned by tests/oidc/package-lock.json), by `npm ci`
    unless the same lock file was installed before.

    Without Node and npm the OpenID Connect tests skip and say why; everything else runs.
    """
    if not shutil.which("node") or not shutil.which("npm"):
        print("node/npm not found: the OpenID Connect tests (a real oidc-provider) will skip", flush=True)
        return
    lock = (OIDC_PROVIDER / "package-lock.json").read_bytes()
    stamp = OIDC_PROVIDER / "node_modules" / ".installed-lock"
    digest = hashlib.sha256(lock).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("installing the tests' OpenID provider (npm ci in tests/oidc)", flush=True)
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=OIDC_PROVIDER)
    if result.returncode != 0:
        print("npm ci failed: the OpenID Connect tests will skip", flush=True)
        return
    stamp.write_text(digest)


def _ensure_softhsm() -> None:
    """SoftHSM2, a real PKCS#11 token for the tests of keys in an HSM, from Debian's packages when we may install.

    Without it (no root, no apt), those tests skip and say why.
    """
    if shutil.which("softhsm2-util") or os.environ.get("BRYGGA_SKIP_SOFTHSM_INSTALL"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("softhsm2 is not installed and cannot be installed here (needs root and apt-get): HSM tests will skip",
              flush=True)
        return
    print("installing softhsm2 (Debian package) for the HSM tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "softhsm2"], check=True, env=env)


AXE = ROOT / "tests" / "browser" / "axe"


def _ensure_axe() -> None:
    """axe-core (pinned in tests/browser/axe/package-lock.json) for the browser tests' accessibility checks, which
    inject it into each page through Playwright. Without npm (or its registry) those tests skip and say why."""
    if (AXE / "node_modules" / "axe-core" / "axe.min.js").exists() or os.environ.get("BRYGGA_SKIP_BROWSER_INSTALL"):
        return
    if not shutil.which("npm"):
        print("npm is not installed: the browser tests' accessibility checks (axe-core) will skip", flush=True)
        return
    print("installing axe-core (npm ci) for the browser tests", flush=True)
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=AXE)
    if result.returncode != 0:
        print("npm ci failed: the browser tests' accessibility checks (axe-core) will skip", flush=True)


def _lint() -> int:
    """ruff, then mypy (configured in pyproject.toml); 0 when both find nothing."""
    for tool in (["ruff", "check", "."], ["mypy"]):
        print(f"$ {' '.join(tool)}", flush=True)
        if subprocess.run([str(PYTHON), "-m", *tool], cwd=ROOT).returncode != 0:
            print(f"{tool[0]} found problems: fix them before the tests run", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    os.chdir(ROOT)
    if command == "serve":
        _ensure_venv("requirements.txt")
        os.environ["BRYGGA_DEV"] = "1"  # a developer's machine: development keys and sign-in
        os.execv(PYTHON, [str(PYTHON), "-m", "service", "serve", *rest])
    if command == "lint":
        _ensure_venv("requirements-dev.txt")
        return _lint()
    if command == "test":
        _ensure_venv("requirements-dev.txt")
        if not rest and _lint() != 0:
            return 1
        _ensure_chromium()
        _ensure_oidc_provider()
        _ensure_softhsm()
        _ensure_axe()
        # The whole suite on every core (pytest-xdist; each worker its own PostgreSQL): its tests wait on
        # servers, sockets and timeouts as much as they compute, so two workers on two cores take 0.6 of one.
        parallel = [] if rest else ["-n", "auto"]
        os.execv(PYTHON, [str(PYTHON), "-m", "pytest", *parallel, *rest])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
