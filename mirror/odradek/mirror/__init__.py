"""MirrorMaker 2 style replication between clusters. Not implemented yet: see the issues."""
