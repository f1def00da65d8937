"""Small primitives shared by the broker's services (clock and scheduler)."""
