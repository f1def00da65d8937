"""The `kube_api` pytest fixture and its `KubeApi` object: a fresh fake API server per test on 127.0.0.1 (a free
port, its own thread), a kubeconfig and a kubectl discovery cache in the test's tmp_path (tests/e2e/README.md).

    def test_x(kube_api):
        kube_api.kubectl("apply", "-f", path)             # the real kubectl with this server's kubeconfig
        kube_api.get("configmaps", "default", "name")      # the stored object (or None)
        kube_api.url, kube_api.kubeconfig                  # for kopf (login_with_kubeconfig) or the Helm SDK
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import FakeApiServer

KUBECTL = os.environ.get("KUBECTL", shutil.which("kubectl") or "/usr/bin/kubectl")
KUBECTL_TIMEOUT = 60.0
EVENTUALLY_TIMEOUT = 30.0


def eventually(check: Callable[[], Any], timeout: float = EVENTUALLY_TIMEOUT, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy (returned), failing after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


class KubeApi(FakeApiServer):
    """The server plus the files a client needs: a kubeconfig and a discovery cache of this test's own."""

    def __init__(self, workdir: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.cache_dir = workdir / "kube-cache"

    def start(self) -> None:
        super().start()
        self.write_kubeconfig(self.kubeconfig)

    def kubectl(
        self, *args: str, input: str | None = None, timeout: float = KUBECTL_TIMEOUT, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server; never hangs longer than `timeout` seconds."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.cache_dir),
            "HOME": str(self.workdir),
        }
        command = [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]
        return subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, env=env, check=check
        )

    def kubectl_popen(self, *args: str) -> subprocess.Popen[str]:
        """kubectl in the background (for `get -w`): the caller bounds it and terminates it."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.cache_dir),
            "HOME": str(self.workdir),
        }
        command = [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeApi]:
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed")
    server = KubeApi(tmp_path, bookmark_interval=1.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()
