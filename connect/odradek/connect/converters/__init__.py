"""Converters between Connect data (schema + value) and record bytes: JSON (with and without the schema envelope),
String, ByteArray, and the SimpleHeaderConverter for headers."""
