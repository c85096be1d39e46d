"""Key files (development keys, new key rings) are written whole or not at all, mode 0600, never over an existing one."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from crypto.keyring import write_private


def test_a_key_file_is_private_and_whole(tmp_path):
    path = tmp_path / "dev" / "signing-key.pem"
    write_private(path, b"secret", replace=False)
    assert path.read_bytes() == b"secret" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["signing-key.pem"]
    with pytest.raises(FileExistsError):
        write_private(path, b"other", replace=False)
    assert path.read_bytes() == b"secret"


def test_a_full_disk_leaves_no_empty_key_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    path = tmp_path / "jwks.json"
    with pytest.raises(OSError, match="No space"):
        write_private(path, b"{}", replace=False)
    assert list(tmp_path.iterdir()) == []  # neither the key file nor the temporary one
