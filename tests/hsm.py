"""A real PKCS#11 token for the tests: SoftHSM2 (Debian's softhsm2), one token per test process."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULES = (Path("/usr/lib/softhsm/libsofthsm2.so"), Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
           Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"))
LABEL = "brygga-test"
PIN = "4711-test"


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    label: str
    pin_file: Path
    conf: Path

    def env(self) -> dict[str, str]:
        """A service process's settings for this token."""
        return {"SOFTHSM2_CONF": str(self.conf), "BRYGGA_PKCS11_MODULE": str(self.module),
                "BRYGGA_PKCS11_TOKEN": self.label, "BRYGGA_PKCS11_PIN_FILE": str(self.pin_file)}

    def session(self):
        import pkcs11

        token = pkcs11.lib(str(self.module)).get_token(token_label=self.label)
        try:
            return token.open(user_pin=PIN, rw=True)
        except pkcs11.UserAlreadyLoggedIn:  # this process logged in before: the login is shared
            return token.open(rw=True)

    def labels(self) -> set[str]:
        import pkcs11

        with self.session() as session:
            return {key.label for key in session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY})}

    def clear(self) -> None:
        import pkcs11

        with self.session() as session:
            for key in list(session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY})):
                key.destroy()


def available() -> bool:
    """Whether SoftHSM2 and python-pkcs11 are installed."""
    return (any(path.exists() for path in MODULES) and shutil.which("softhsm2-util") is not None
            and importlib.util.find_spec("pkcs11") is not None)


def start(directory: Path) -> SoftHsm:
    """A token in `directory` (SOFTHSM2_CONF set for this process: the library reads it once); skips with the
    reason where SoftHSM2 or python-pkcs11 is missing (`python3 dev.py test` installs both as root)."""
    module = next((path for path in MODULES if path.exists()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2; `python3 dev.py test` installs it as root)")
    if importlib.util.find_spec("pkcs11") is None:
        pytest.skip("python-pkcs11 is not installed (requirements.txt)")
    if os.environ.get("SOFTHSM2_CONF") and Path(os.environ["SOFTHSM2_CONF"]).parent != directory:
        directory = Path(os.environ["SOFTHSM2_CONF"]).parent  # this process's library already read it
    else:
        (directory / "tokens").mkdir(parents=True, exist_ok=True)
        conf = directory / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "so-" + PIN],
                       check=True, capture_output=True, env=os.environ)
    pin_file = directory / "pin"
    pin_file.write_text(PIN)
    pin_file.chmod(0o600)
    return SoftHsm(module, LABEL, pin_file, directory / "softhsm2.conf")
