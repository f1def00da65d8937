"""Telemetry shared by every Odradek process (Connect, Mirror, the operator): OpenTelemetry set-up from the
standard OTEL_* variables. Imports nothing of the broker, Connect, Mirror or the operator (an import contract)."""
