"""Kafka Connect workers. Not implemented yet: see the issues."""
