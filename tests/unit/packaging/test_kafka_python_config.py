"""The one translation of client settings to kafka-python's (odradek.kafka_python), used by the CLI and the
operator (the key table: tests/unit/cli/test_security_tools.py and test_cli_transactions.py)."""

from __future__ import annotations

from odradek.kafka_python import admin_config


def test_explicit_sasl_credentials_win_over_jaas() -> None:
    config = {"sasl.username": "x", "sasl.password": "y", "sasl.jaas.config": 'username="u" password="p"'}
    out = admin_config(config)
    assert (out["sasl_plain_username"], out["sasl_plain_password"]) == ("x", "y")
