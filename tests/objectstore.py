"""A real S3-protocol server for the tests: moto's standalone server, started as its own HTTP process."""
from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

BUCKET = "brygga-test"
REGION = "eu-north-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self) -> dict[str, str]:
        """The standard AWS settings that point a client (Brygga's included) at this server."""
        return {"AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_ACCESS_KEY_ID": "brygga-test",
                "AWS_SECRET_ACCESS_KEY": "brygga-test-secret", "AWS_DEFAULT_REGION": REGION}

    def client(self):  # botocore's synchronous client, for the tests' own looks into the bucket
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="brygga-test",
            aws_secret_access_key="brygga-test-secret")

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            found.extend(entry["Key"] for entry in page.get("Contents", ()))
        return found


def available() -> bool:
    """Whether moto's server and Brygga's S3 client are installed."""
    return importlib.util.find_spec("moto") is not None and importlib.util.find_spec("aiobotocore") is not None


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's server on a free loopback port with the test bucket made; skips when moto is not installed."""
    if not available():
        pytest.skip("moto[server] and aiobotocore are not installed (requirements-dev.txt): no S3 server to test against")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        server = S3Server(f"http://127.0.0.1:{port}")
        server.client().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
