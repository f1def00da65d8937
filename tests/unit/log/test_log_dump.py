import io
from pathlib import Path

from log_batches import build_batch
from odradek.broker.log.config import LogConfig
from odradek.broker.log.dump_log import main
from odradek.broker.log.log import Log

NOW = 1_700_000_000_000


def test_dump_log_and_indexes(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(index_interval_bytes=1), now_ms=NOW)
    log.append_as_leader(build_batch([(b"k1", b"hello", NOW), (None, b"world", NOW + 5)]), 3, now_ms=NOW)
    log.append_as_leader(
        build_batch([(b"k2", b"zipped", NOW + 9)], codec=1, producer_id=7, producer_epoch=1, base_sequence=4),
        3,
        now_ms=NOW,
    )
    log.close()
    seg = tmp_path / "t-0" / "00000000000000000000"
    out = io.StringIO()
    status = main(
        ["--files", f"{seg}.log,{seg}.index,{seg}.timeindex", "--print-data-log"],
        out=out,
    )
    assert status == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Dumping {seg}.log"
    assert lines[1] == "Log starting offset: 0"
    assert lines[2].startswith(
        "baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 "
        "producerEpoch: -1 partitionLeaderEpoch: 3 isTransactional: false isControl: false "
        "deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1700000000005 size: "
    )
    assert lines[2].endswith("isvalid: true") and "magic: 2 compresscodec: none crc: " in lines[2]
    assert lines[3] == (
        "| offset: 0 CreateTime: 1700000000000 keySize: 2 valueSize: 5 sequence: -1 headerKeys: [] "
        "key: k1 payload: hello"
    )
    assert lines[4].endswith("keySize: -1 valueSize: 5 sequence: -1 headerKeys: [] key: null payload: world")
    assert "baseSequence: 4 lastSequence: 4 producerId: 7 producerEpoch: 1" in lines[5]
    assert "compresscodec: gzip" in lines[5]
    assert lines[6].endswith("sequence: 4 headerKeys: [] key: k2 payload: zipped")
    assert lines[7] == f"Dumping {seg}.index"
    assert lines[8].startswith("offset: 2 position: ")
    assert lines[9] == f"Dumping {seg}.timeindex"
    assert lines[10] == "timestamp: 1700000000009 offset: 2"


def test_dump_reports_trailing_garbage(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000042.log"
    path.write_bytes(bytes(build_batch([(b"k", b"v", NOW)], base_offset=42)) + b"\x00" * 100)
    out = io.StringIO()
    assert main(["--files", str(path)], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[1] == "Log starting offset: 42"
    assert lines[2].startswith("baseOffset: 42 lastOffset: 42 count: 1")
    assert lines[3] == f"Found 100 invalid bytes at the end of {path.name}"


def test_dump_txn_index(tmp_path: Path) -> None:
    from odradek.broker.log.txn_index import AbortedTxn, TransactionIndex

    path = tmp_path / "00000000000000000000.txnindex"
    TransactionIndex(path, 0).append(AbortedTxn(7, 3, 9, 10))
    out = io.StringIO()
    assert main(["--files", str(path)], out) == 0
    assert out.getvalue().splitlines() == [
        f"Dumping {path}",
        "version: 0 producerId: 7 firstOffset: 3 lastOffset: 9 lastStableOffset: 10",
    ]
