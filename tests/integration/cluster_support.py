"""Helpers for integration tests of several broker processes on one etcd (metadata.store.url=etcd://...).

- `start_brokers(factory, url, node_ids, configs)`: one broker per id (conftest's `broker_factory`), each with
  `configs`, `metadata.store.url=url` and its `node.id`; returns them by id once every one is registered
  (`wait_registered`).
- `wait_registered(bootstrap, node_ids, timeout_s)`: waits until DescribeCluster lists exactly `node_ids`.
- `logs_on_failure(brokers)`: a context manager that prints each broker's log tail when its body raises (pytest
  shows it with the failure), then lets the exception go on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping

from it_support import BrokerProcess, ck_admin, wait_for

CLIENT_TIMEOUT_S = 15
REGISTERED_TIMEOUT_S = 30.0  # generous: the machine is shared
LOG_TAIL_CHARS = 4000


def start_brokers(
    factory: Callable[..., BrokerProcess],
    url: str,
    node_ids: Iterable[int],
    configs: Mapping[str, str],
    *,
    timeout_s: float = REGISTERED_TIMEOUT_S,
) -> dict[int, BrokerProcess]:
    ids = list(node_ids)
    brokers = {n: factory({**configs, "metadata.store.url": url, "node.id": str(n)}) for n in ids}
    wait_registered(brokers[ids[0]].bootstrap, ids, timeout_s)
    return brokers


def wait_registered(bootstrap: str, node_ids: Iterable[int], timeout_s: float = REGISTERED_TIMEOUT_S) -> None:
    wanted = sorted(node_ids)
    admin = ck_admin(bootstrap)

    def registered() -> bool:
        cluster = admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
        return sorted(n.id for n in cluster.nodes) == wanted

    wait_for(registered, timeout=timeout_s, interval=0.2, what=f"registered brokers {wanted}")


@contextlib.contextmanager
def logs_on_failure(brokers: Mapping[int, BrokerProcess]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for n, broker in brokers.items():
            print(f"--- broker {n}:\n{broker.tail(LOG_TAIL_CHARS)}")
        raise
