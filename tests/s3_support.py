"""An S3 endpoint for the S3 sink's tests: moto's server mode (`moto[server]`, the test extra) as its own process.

`MotoServer(folder).start()` runs `python -m moto.server -H 127.0.0.1 -p <free port>` in its own session, waits
(bounded) until it answers HTTP, and `stop()` kills it by PID. `client()` is a boto3 S3 client for it (moto accepts
any credentials; the tests pass fixed fake ones so nothing is read from the environment). `objects(bucket)` maps
every key to its bytes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 30.0
FAKE_KEY, FAKE_SECRET, REGION = "testing", "testing", "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def moto_missing() -> str | None:
    try:
        import flask  # noqa: F401  (moto's server mode needs the [server] extra)
        import moto.server  # noqa: F401
    except ImportError as exc:
        return f"moto[server] is not installed (pip install -e .[test]): {exc}"
    return None


class MotoServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}
        with open(self.folder / "moto.out", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited: {(self.folder / 'moto.out').read_text(errors='replace')}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/moto-api/", timeout=2):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server not answering on {self.url} after {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=10)

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=FAKE_KEY,
            aws_secret_access_key=FAKE_SECRET,
        )

    def objects(self, bucket: str) -> dict[str, bytes]:
        s3 = self.client()
        out: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                out[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return out

    def connector_settings(self, bucket: str) -> dict[str, str]:
        """The S3 sink keys that point it at this server."""
        return {
            "s3.bucket.name": bucket,
            "s3.region": REGION,
            "store.url": self.url,
            "aws.access.key.id": FAKE_KEY,
            "aws.secret.access.key": FAKE_SECRET,
        }
