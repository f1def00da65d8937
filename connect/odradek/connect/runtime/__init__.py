"""The Connect runtime: the worker, its task threads, offsets, error handling, statuses and the standalone herder."""
