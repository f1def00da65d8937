"""The broker image (images/broker/Containerfile, unbuilt here: no container runtime) and the broker pods the
operator builds (resources/cluster.py) agree: the pod's command runs the image's ENTRYPOINT + CMD program with the
config file the ConfigMap mounts, the folders it mounts exist in the image, its ports are exposed, and what the
command hands the broker after `sh` expanded it (run here with a stand-in `python` that records its argv) is a
config the broker's own loader accepts, in the pod's environment.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from odradek.broker.config.broker import ENV_PREFIX, load
from odradek.operator.resources import cluster as model

REPO = Path(__file__).resolve().parents[3]
CONTAINERFILE = REPO / "images" / "broker" / "Containerfile"


def instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction, continuation lines joined."""
    text = CONTAINERFILE.read_text().replace("\\\n", " ")
    return [line[len(name) + 1 :] for line in text.splitlines() if line.startswith(name + " ")]


def exec_form(name: str) -> list[str]:
    [value] = instructions(name)
    parsed: list[str] = json.loads(value)
    return parsed


def example_cluster(**changes: Any) -> model.ClusterModel:
    body = yaml.safe_load((REPO / "examples" / "kafka-cluster.yaml").read_text())
    body["metadata"].update({"namespace": "kafka", "uid": "u1"})
    body["spec"]["kafka"].update(changes)
    return model.from_resource(body)


def container(cluster: model.ClusterModel) -> dict[str, Any]:
    result: dict[str, Any] = model.stateful_set(cluster)["spec"]["template"]["spec"]["containers"][0]
    return result


def test_the_pod_command_runs_the_image_entrypoint_with_the_mounted_config() -> None:
    entrypoint, cmd = exec_form("ENTRYPOINT"), exec_form("CMD")
    assert entrypoint == ["python", "-m", "odradek.broker"]
    kafka = container(example_cluster())
    shell, flag, script = kafka["command"]
    assert (shell, flag) == ("sh", "-c")
    words = shlex.split(script)
    assert words[0] == "exec"
    assert words[1 : 1 + len(entrypoint) + len(cmd)] == entrypoint + cmd
    [config_mount] = [m for m in kafka["volumeMounts"] if m["name"] == "config"]
    assert Path(cmd[0]).parent == Path(config_mount["mountPath"]) == Path(model.CONFIG_DIR)
    assert Path(cmd[0]).name in model.config_map(example_cluster())["data"]


def test_the_image_has_the_folders_and_ports_the_pod_uses() -> None:
    runs = " ".join(instructions("RUN"))
    for folder in (model.CONFIG_DIR, model.DATA_ROOT):
        assert f" {folder}" in runs, folder
    assert instructions("USER") == ["1001"]
    exposed = {int(port) for line in instructions("EXPOSE") for port in line.split()}
    ports = {port["containerPort"] for port in container(example_cluster())["ports"]}
    assert ports <= exposed, ports - exposed
    for mount in container(example_cluster())["volumeMounts"]:
        assert mount["mountPath"].startswith((model.CONFIG_DIR, model.DATA_ROOT)), mount


@pytest.mark.parametrize("secured", [True, False])
def test_the_broker_accepts_what_the_pod_command_gives_it(tmp_path: Path, secured: bool) -> None:
    plain = [{"name": "plain", "port": 9092, "type": "internal"}]
    cluster = example_cluster() if secured else example_cluster(listeners=plain, authorization=None)
    assert cluster.secured is secured
    kafka = container(cluster)
    # a stand-in `python` on PATH records the argv `sh` hands it (after ${HOSTNAME} and the Secret's variable)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorder = bin_dir / "python"
    recorder.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    recorder.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOSTNAME": "my-cluster-kafka-2"}
    for item in kafka["env"]:
        assert not item["name"].startswith(ENV_PREFIX), f"{item['name']}: the broker reads {ENV_PREFIX}* as config"
        env[item["name"]] = "s3cret"
    ran = subprocess.run(kafka["command"], env=env, capture_output=True, text=True, timeout=30, check=True)
    argv = json.loads(ran.stdout)
    assert argv[:2] == ["-m", "odradek.broker"]
    props = tmp_path / "server.properties"
    props.write_text(model.config_map(cluster)["data"]["server.properties"])
    args = argv[2:]
    args[0] = str(props)  # the mounted file
    overrides = [args[i + 1] for i, word in enumerate(args) if word == "--override"]
    config = load(str(props), overrides, env)
    assert config.get_int("node.id") == 2
    assert "my-cluster-kafka-2.my-cluster-kafka-brokers.kafka.svc:9091" in str(config.get("advertised.listeners"))
    if secured:
        assert "s3cret" in str(config.get("sasl.scram.bootstrap.credentials"))
