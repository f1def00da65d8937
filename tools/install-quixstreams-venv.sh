#!/usr/bin/env bash
# quixstreams (a stream-processing library, issue 9's exactly-once test) in a virtual environment of its own:
# quixstreams 3.28 requires confluent-kafka < 2.13 while Odradek pins 2.16.1, so it cannot be installed beside it.
# The venv is build/venv-quixstreams (git-ignored), installed from the pinned tools/quixstreams-requirements.txt;
# tests/integration/test_quixstreams_eos.py runs its application with that venv's python.
# Idempotent: a stamp holding the requirements' checksum says the venv is complete and current (nothing to do).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
venv=build/venv-quixstreams
requirements=tools/quixstreams-requirements.txt
stamp="$venv/.installed"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
rm -rf "$venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -W ignore -c "import quixstreams, confluent_kafka"
echo "$want" > "$stamp"
