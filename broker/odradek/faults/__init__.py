"""Running and judging Odradek clusters from the outside (docs/cluster.md).

- `cluster`: a local cluster of one etcd member and N broker processes in a folder (`odradek cluster up/down`).
- `processes`: signals to processes by PID with bounded waits (SIGKILL, SIGSTOP/SIGCONT, SIGTERM then SIGKILL).
- `history`, `recorder`, `checker`, `segments`: the fault suite's history (JSON lines), the producers and consumers
  that record it through confluent-kafka, and the checker of its invariants (and of replica convergence on disk).
- `nemesis`, `netns`, `scenario`: fault injection (pauses, kills, torn tails, full disks, network partitions in
  network namespaces) and the scenario runner.

This package talks to brokers only through confluent-kafka and their processes and files; it never imports
`odradek.broker` (an import-linter contract).
"""
