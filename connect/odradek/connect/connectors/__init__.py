"""Built-in connector plugins."""
