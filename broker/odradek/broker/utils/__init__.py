"""Small primitives shared by the broker's services (clock and scheduler, shielded file work in worker threads)."""
