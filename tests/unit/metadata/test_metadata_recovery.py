"""Crash recovery of the embedded store: a torn or corrupt journal tail gives a prefix of committed txns."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from metadata_testing import run
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.journal import MetadataDirectory, frame, read_frames
from odradek.broker.metadata.keyspace import KeySpace
from odradek.broker.metadata.store import Compare, Op

State = dict[bytes, tuple[bytes, int, int, int]]


async def snapshot_state(store: EmbeddedMetadataStore) -> State:
    return {kv.key: (kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in (await store.range(b"")).kvs}


async def write_history(path: Path, seed: int, count: int) -> list[State]:
    """Runs ``count`` random write txns; returns the state after each revision (index = revision)."""
    rng = random.Random(seed)
    store = await EmbeddedMetadataStore.open(str(path), snapshot_every=10_000)
    states: list[State] = [{}]
    try:
        while store.revision < count:
            key = b"/k/%d" % rng.randrange(6)
            choice = rng.random()
            if choice < 0.6:
                await store.put(key, rng.randbytes(rng.randrange(0, 40)))
            elif choice < 0.8:
                await store.delete(key)
            else:
                kv = await store.get(key)
                compares = [Compare.unchanged(key, kv.mod_revision if kv else 0)]
                await store.txn(compares, [Op.put(key, b"cas"), Op.put(key + b"/x", b"y")], [])
            if store.revision == len(states):
                states.append(await snapshot_state(store))
    finally:
        await store.close()
    return states


def frame_ends(journal: bytes) -> list[int]:
    return [0] + [end for _, end in read_frames(journal)]


async def reopen_and_check(folder: Path, states: list[State], expected_revision: int) -> None:
    store = await EmbeddedMetadataStore.open(str(folder))
    try:
        assert store.revision == expected_revision
        assert await snapshot_state(store) == states[expected_revision]
        kv = await store.put(b"/after", b"crash")
        assert kv.mod_revision == expected_revision + 1, "revisions continue from the recovered prefix"
    finally:
        await store.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_truncated_journal_recovers_a_committed_prefix(tmp_path: Path, seed: int) -> None:
    source = tmp_path / "source"
    states = run(write_history(source, seed, 25))
    journal = (source / "journal").read_bytes()
    ends = frame_ends(journal)
    assert len(ends) == 26
    rng = random.Random(seed)
    cuts = sorted({*ends, *(e + 1 for e in ends), *(e - 1 for e in ends[1:]), *rng.sample(range(len(journal)), 60)})
    for cut in cuts:
        if cut > len(journal):
            continue
        folder = tmp_path / f"cut{cut}"
        folder.mkdir()
        (folder / "journal").write_bytes(journal[:cut])
        expected = sum(1 for end in ends[1:] if end <= cut)
        run(reopen_and_check(folder, states, expected))
        recovered = (folder / "journal").read_bytes()
        assert recovered.startswith(journal[: ends[expected]])
        shutil.rmtree(folder)


def test_corrupt_or_garbage_tail_is_dropped(tmp_path: Path) -> None:
    source = tmp_path / "source"
    states = run(write_history(source, 7, 12))
    journal = (source / "journal").read_bytes()
    ends = frame_ends(journal)
    rng = random.Random(7)
    cases = {
        "garbage": (journal + rng.randbytes(50), 12),
        "zeros": (journal + bytes(30), 12),
        "flipped-last": (journal[:-3] + bytes([journal[-3] ^ 0x40]) + journal[-2:], 11),
        "flipped-middle": (journal[: ends[5] + 10] + b"\x00" + journal[ends[5] + 11 :], 5),
        "huge-length": (journal + b"\xff\xff\xff\xff" + bytes(4), 12),
        "bad-json": (journal + frame(b"{not json"), 12),
        "revision-gap": (journal + frame(b'{"rev":99,"changes":[]}'), 12),
    }
    for name, (data, expected) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "journal").write_bytes(data)
        run(reopen_and_check(folder, states, expected))


def test_crash_between_snapshot_and_journal_truncation(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    states = run(write_history(folder, 11, 20))
    journal = (folder / "journal").read_bytes()
    directory = MetadataDirectory(str(folder))
    recovered = directory.open()
    space = KeySpace()
    for entry in recovered.entries[:15]:
        space.apply(entry.revision, entry.changes)
    directory.write_snapshot(15, space.kvs.values())
    directory.close()
    assert (folder / "journal").read_bytes() == b""
    # The crash: the snapshot at revision 15 was renamed into place but the journal was not yet emptied.
    (folder / "journal").write_bytes(journal)

    async def check() -> None:
        store = await EmbeddedMetadataStore.open(str(folder))
        try:
            assert store.revision == 20
            assert store.compact_revision == 15
            assert await snapshot_state(store) == states[20]
        finally:
            await store.close()

    run(check())


def test_torn_snapshot_tmp_is_ignored(tmp_path: Path) -> None:
    source = tmp_path / "source"
    states = run(write_history(source, 5, 8))
    (source / "snapshot.tmp").write_bytes(b"\x00\x00\x00\x10torn")
    run(reopen_and_check(source, states, 8))
    assert not (source / "snapshot.tmp").exists()


def test_a_new_store_folder_is_fsynced_into_its_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating the folder is a change of the parent folder: without an fsync of the parent a power loss can
    drop the folder, journal and all, after commits that were fsynced inside it."""
    import os

    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    parent = tmp_path / "logs"
    parent.mkdir()
    directory = MetadataDirectory(str(parent / "__cluster_metadata"))
    directory.open()
    directory.close()
    assert str(parent) in synced
    synced.clear()
    again = MetadataDirectory(str(parent / "__cluster_metadata"))
    again.open()
    again.close()
    assert str(parent) not in synced  # only when the folder is new
