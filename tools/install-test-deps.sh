#!/usr/bin/env bash
# Debian packages the tests use: kcat (librdkafka's CLI, a real client nobody here wrote) and prometheus
# (tests/integration/test_prometheus_scrape.py runs /usr/bin/prometheus on loopback against the broker's /metrics)
# and etcd-server (the etcd metadata store's tests run /usr/bin/etcd members on free loopback ports: tests/etcd_support.py),
# postgresql (the JDBC connectors' tests run initdb and pg_ctl in a temporary folder on loopback:
# tests/postgres_support.py), and old clients for issue 15 (tests/integration/test_old_clients.py): Debian's Go
# toolchain with sarama 1.22 and segmentio kafka-go 0.2 (compiled offline from /usr/share/gocode, GO111MODULE=off),
# and Burrow 1.2.1 with a ZooKeeper for its own locks (the zookeeper package's jars, run by the test with java; no
# service is started), and python3-venv (Debian's python3 makes no venv without it: tools/install-quixstreams-venv.sh,
# run next by `make install-test`, puts quixstreams in one of its own).
set -euo pipefail
packages=(kcat prometheus etcd-server postgresql golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev burrow zookeeper python3-venv)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
