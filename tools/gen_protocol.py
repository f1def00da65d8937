#!/usr/bin/env python3
"""Generate ``odradek.broker.protocol.messages`` from Kafka's JSON message specs.

The specs ship as package data in the pinned kafka-python wheel (``kafka.protocol.schemas.resources``); they
are read with importlib.resources, ``//`` comments stripped, ``commonStructs`` resolved. For every spec file
one module ``messages/<snake_case_of_name>.py`` is written, holding:

- ``API_KEY`` (-1 for headers and data types), ``MIN_VERSION``, ``MAX_VERSION``, ``FLEXIBLE_VERSION``;
- one slotted, keyword-only dataclass per struct (top level named as the spec, nested by their type names);
- ``decode(r: Reader, version) -> Top`` and ``encode(w: bytearray, msg, version) -> None``, dispatching to
  straight-line functions per version (identical per-version bodies are shared). Runs of fixed-width fields
  are packed and unpacked with one precompiled ``struct.Struct``.

Encoding writes only the fields of the requested version; values of fields the version lacks are dropped.
A ``None`` in a version where the field is not nullable is written as the empty string/array/bytes.

``records`` fields of response messages also accept a ``protocol.frames.Region`` (a slice of a file, e.g. a Fetch
response's segment data): the encoder writes its length prefix and records the region in the
``frames.RegionWriter`` it writes into, which then yields the body as chunks with the region between them
(the bytes are never read here; the server sends them with sendfile). Only records fields do this.

Usage: ``python tools/gen_protocol.py`` (write) or ``python tools/gen_protocol.py --check``
(exit 1 on a diff).
The spec model (``load_specs``) is also used by the tests to build Hypothesis strategies.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import importlib.resources
import json
import keyword
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "broker" / "odradek" / "broker" / "protocol" / "messages"
SPEC_PACKAGE = "kafka.protocol.schemas.resources"
VENDORED_DIR = Path(__file__).resolve().parent / "specs"
MAX_V = 0x7FFF

# The lowest version Apache Kafka 3.9 served, for the specs whose floor KIP-896 raised in Kafka 4.0 (the wheel's
# specs are 4.x). The 4.x specs keep the fields of the removed versions ("versions": "0" for ListOffsets'
# MaxNumOffsets, "1" for OffsetCommit's CommitTimestamp, ...), so widening validVersions is enough to generate
# the 3.9 codecs; each floor was read from apache/kafka 3.9's clients/src/main/resources/common/message/.
KAFKA_3_9_FLOOR = {
    "ProduceRequest": 0, "ProduceResponse": 0,
    "FetchRequest": 0, "FetchResponse": 0,
    "ListOffsetsRequest": 0, "ListOffsetsResponse": 0,
    "OffsetCommitRequest": 0, "OffsetCommitResponse": 0,
    "OffsetFetchRequest": 0, "OffsetFetchResponse": 0,
    "CreateTopicsRequest": 0, "CreateTopicsResponse": 0,
    "DeleteTopicsRequest": 0, "DeleteTopicsResponse": 0,
    "OffsetForLeaderEpochRequest": 0, "OffsetForLeaderEpochResponse": 0,
    "WriteTxnMarkersRequest": 0, "WriteTxnMarkersResponse": 0,
    "DescribeAclsRequest": 0, "DescribeAclsResponse": 0,
    "CreateAclsRequest": 0, "CreateAclsResponse": 0,
    "DeleteAclsRequest": 0, "DeleteAclsResponse": 0,
    "DescribeConfigsRequest": 0, "DescribeConfigsResponse": 0,
    "DescribeLogDirsRequest": 0, "DescribeLogDirsResponse": 0,
}  # fmt: skip

FIXED = {
    "int8": ("b", 1),
    "int16": ("h", 2),
    "int32": ("i", 4),
    "int64": ("q", 8),
    "uint16": ("H", 2),
    "uint32": ("I", 4),
    "float64": ("d", 8),
    "bool": ("?", 1),
    "uuid": ("16s", 16),
}
PY_SCALAR = {
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "int",
    "uint16": "int",
    "uint32": "int",
    "float64": "float",
    "bool": "bool",
    "uuid": "uuid.UUID",
    "string": "str",
    "bytes": "bytes | memoryview",
    "records": "bytes | memoryview",
}


# ------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class VRange:
    lo: int
    hi: int  # inclusive; lo > hi means empty

    @classmethod
    def parse(cls, s: str | None) -> VRange:
        if s is None or s == "none":
            return cls(1, 0)
        s = s.strip()
        if s.endswith("+"):
            return cls(int(s[:-1]), MAX_V)
        if "-" in s:
            a, b = s.split("-")
            return cls(int(a), int(b))
        return cls(int(s), int(s))

    def __contains__(self, v: int) -> bool:
        return self.lo <= v <= self.hi

    @property
    def empty(self) -> bool:
        return self.lo > self.hi


@dataclass
class Field:
    name: str
    py: str
    type: str
    versions: VRange
    nullable: VRange
    tagged: VRange
    tag: int | None
    flexible_override: VRange | None
    default: str | None
    ignorable: bool
    struct: Struct | None = None

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def elem(self) -> str:
        return self.type[2:] if self.is_array else self.type

    @property
    def nullable_ever(self) -> bool:
        return not self.nullable.empty or self.default == "null"


@dataclass
class Struct:
    name: str
    fields: list[Field] = field(default_factory=list)


@dataclass
class Message:
    name: str
    file: str
    kind: str
    api_key: int
    valid: VRange
    flexible: VRange
    top: Struct
    structs: list[Struct]

    @property
    def module(self) -> str:
        return snake(self.name)

    @property
    def flexible_version(self) -> int | None:
        return None if self.flexible.empty else self.flexible.lo


def snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return s + "_" if keyword.iskeyword(s) or s in ("self", "r", "w", "m") else s


def _strip_comments(text: str) -> str:
    return re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE)


def _parse_struct(
    name: str,
    fields_json: list[dict[str, object]],
    common: dict[str, list[dict[str, object]]],
    msg_structs: dict[str, Struct],
    order: list[Struct],
) -> Struct:
    st = Struct(name)
    if name in msg_structs:
        raise ValueError(f"duplicate struct name {name}")
    msg_structs[name] = st
    for fj in fields_json:
        ftype = str(fj["type"])
        tagged = VRange.parse(fj.get("taggedVersions"))  # type: ignore[arg-type]
        f = Field(
            name=str(fj["name"]),
            py=snake(str(fj["name"])),
            type=ftype,
            versions=VRange.parse(str(fj["versions"])),
            nullable=VRange.parse(fj.get("nullableVersions")),  # type: ignore[arg-type]
            tagged=tagged,
            tag=int(fj["tag"]) if "tag" in fj else None,  # type: ignore[call-overload]
            flexible_override=VRange.parse(str(fj["flexibleVersions"])) if "flexibleVersions" in fj else None,
            default=str(fj["default"]) if "default" in fj else None,
            ignorable=bool(fj.get("ignorable", False)),
        )
        elem = f.elem
        if elem not in PY_SCALAR:
            sub = fj.get("fields")
            if sub is None:
                if elem in msg_structs:
                    f.struct = msg_structs[elem]
                else:
                    f.struct = _parse_struct(elem, common[elem], common, msg_structs, order)
            else:
                f.struct = _parse_struct(elem, sub, common, msg_structs, order)  # type: ignore[arg-type]
        st.fields.append(f)
    order.append(st)
    return st


def load_spec(file: str, text: str) -> Message:
    d = json.loads(_strip_comments(text))
    common = {str(c["name"]): c["fields"] for c in d.get("commonStructs", [])}
    structs: dict[str, Struct] = {}
    order: list[Struct] = []
    top = _parse_struct(d["name"], d["fields"], common, structs, order)
    valid = VRange.parse(d["validVersions"])
    floor = KAFKA_3_9_FLOOR.get(d["name"])
    if floor is not None and floor < valid.lo:
        valid = VRange(floor, valid.hi)
    return Message(
        name=d["name"],
        file=file,
        kind=d["type"],
        api_key=int(d.get("apiKey", -1)),
        valid=valid,
        flexible=VRange.parse(d["flexibleVersions"]),
        top=top,
        structs=order,
    )


def load_specs() -> list[Message]:
    """All specs in the wheel and in tools/specs/, sorted by file name."""
    with warnings.catch_warnings():
        # importing kafka-python runs its legacy importlib.resources calls (DeprecationWarning on 3.11)
        warnings.simplefilter("ignore", DeprecationWarning)
        res = importlib.resources.files(SPEC_PACKAGE)
    texts = {
        entry.name: (entry.name, entry.read_text(encoding="utf-8"))
        for entry in res.iterdir()
        if entry.name.endswith(".json")
    }
    # Specs the wheel lacks (KIP-848's), vendored under tools/specs/ (README.md there names their source).
    for path in VENDORED_DIR.glob("*.json"):
        texts.setdefault(path.name, (f"tools/specs/{path.name}", path.read_text(encoding="utf-8")))
    return [load_spec(*texts[name]) for name in sorted(texts)]


# ---------------------------------------------------------------------------------------- code emission


def _int_default(f: Field) -> str:
    if f.default in (None, ""):
        return "0"
    return str(int(f.default, 0))


def py_type(f: Field, regions: bool = False) -> str:
    """`regions`: the field's message is a response, whose records fields may be file regions."""
    if f.is_array:
        inner = f.struct.name if f.struct else PY_SCALAR[f.elem]
        t = f"list[{inner}]"
        return t + " | None" if f.nullable_ever else t
    if f.struct is not None:
        return f"{f.struct.name} | None"
    t = PY_SCALAR[f.type]
    if f.type == "records" and regions:
        t += " | Region | StreamedRecords"
    if f.type == "records" or (f.type in ("string", "bytes") and f.nullable_ever):
        return t + " | None"
    return t


def default_expr(f: Field) -> str:
    """The default value expression (dataclass default and decode default)."""
    if f.is_array:
        return "None" if f.default == "null" else "[]"
    if f.struct is not None:
        return "None"
    t = f.type
    if t in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        return _int_default(f)
    if t == "float64":
        return repr(float(f.default)) if f.default else "0.0"
    if t == "bool":
        return "True" if (f.default or "").lower() == "true" else "False"
    if t == "uuid":
        return "UUID_ZERO"
    if t == "string":
        if f.default == "null" or (f.default is None and f.nullable_ever):
            return "None"
        return repr(f.default or "")
    if t in ("bytes", "records"):
        if f.default == "null" or f.nullable_ever:
            return "None"
        return 'b""'
    raise ValueError(t)


def dataclass_field(f: Field, regions: bool = False) -> str:
    d = default_expr(f)
    if d == "[]":
        return f"    {f.py}: {py_type(f, regions)} = field(default_factory=list)"
    return f"    {f.py}: {py_type(f, regions)} = {d}"


class Emitter:
    """Emits the per-version functions of one message, sharing identical bodies."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self.regions = has_region_records(msg)
        self.structs: dict[str, str] = {}  # fmt -> name
        self.funcs: dict[str, str] = {}  # body text -> function name
        self.out: list[str] = []
        self.counter: dict[str, int] = {}

    def sname(self, fmt: str) -> str:
        name = "_S_" + fmt.replace("?", "o")
        self.structs[fmt] = name
        return name

    def _register(self, prefix: str, sig: str, body: list[str]) -> str:
        key = sig + "\n" + "\n".join(body)
        if key in self.funcs:
            return self.funcs[key]
        n = self.counter.get(prefix, 0)
        self.counter[prefix] = n + 1
        name = f"{prefix}_{n}"
        self.funcs[key] = name
        self.out.append(f"def {name}{sig}:")
        self.out.extend(body)
        self.out.append("")
        self.out.append("")
        return name

    # --- helpers about one field at one version
    def compact(self, f: Field, v: int) -> bool:
        flex = v in self.msg.flexible
        if f.flexible_override is not None:
            flex = flex and v in f.flexible_override
        return flex

    def min_size(self, st: Struct, v: int) -> int:
        flex = v in self.msg.flexible
        total = 1 if flex else 0
        for f in st.fields:
            if v not in f.versions or (flex and v in f.tagged):
                continue
            c = self.compact(f, v)
            if f.is_array:
                total += 1 if c else 4
            elif f.struct is not None:
                total += 1 if v in f.nullable else self.min_size(f.struct, v)
            elif f.type in FIXED:
                total += FIXED[f.type][1]
            elif f.type == "string":
                total += 1 if c else 2
            else:
                total += 1 if c else 4
        return total

    # --- decode
    def dec_value(self, f: Field, v: int, target: str, ind: str, compact: bool, nullable: bool) -> list[str]:
        """Lines assigning the decoded value of a non-fixed (or tagged) field to ``target``."""
        t = f.elem
        if f.is_array:
            lenfn = ("compact_" if compact else "") + ("nullable_" if nullable else "") + "array_len"
            if f.struct is not None:
                ms = self.min_size(f.struct, v)
                fn = self.dec_struct(f.struct, v)
                elem = f"[{fn}(r) for _ in range(_n)]"
            elif t in FIXED and t != "uuid":
                ms = FIXED[t][1]
                elem = f"r.fixed_array({self.sname(FIXED[t][0])}, _n)"
            else:
                ms = 16 if t == "uuid" else (1 if compact else 2)
                elem = f"[{self.scalar_dec(t, compact, False)} for _ in range(_n)]"
            lines = [f"{ind}_n = r.{lenfn}({ms})"]
            if nullable:
                lines.append(f"{ind}{target} = None if _n < 0 else {elem}")
            else:
                lines.append(f"{ind}{target} = {elem}")
            return lines
        if f.struct is not None:
            fn = self.dec_struct(f.struct, v)
            if nullable:
                return [f"{ind}{target} = None if r.int8() < 0 else {fn}(r)"]
            return [f"{ind}{target} = {fn}(r)"]
        return [f"{ind}{target} = {self.scalar_dec(t, compact, nullable)}"]

    @staticmethod
    def scalar_dec(t: str, compact: bool, nullable: bool) -> str:
        if t in FIXED:
            return {
                "int8": "r.int8()",
                "int16": "r.int16()",
                "int32": "r.int32()",
                "int64": "r.int64()",
                "uint16": "r.uint16()",
                "uint32": "r.uint32()",
                "float64": "r.float64()",
                "bool": "r.boolean()",
                "uuid": "r.uuid()",
            }[t]
        base = "string" if t == "string" else "bytes"
        name = ("compact_" if compact else "") + ("nullable_" if nullable else "") + base
        if name == "bytes":
            name = "bytes_"
        return f"r.{name}()"

    def dec_struct(self, st: Struct, v: int) -> str:
        flex = v in self.msg.flexible
        body: list[str] = []
        names: list[str] = []
        run: list[Field] = []

        def flush() -> None:
            if not run:
                return
            fmt = "".join(FIXED[f.type][0] for f in run)
            targets = ", ".join(f"f_{f.py}" for f in run)
            body.append(f"    ({targets},) = r.unpack({self.sname(fmt)})")
            for f in run:
                if f.type == "uuid":
                    body.append(f"    f_{f.py} = uuid.UUID(bytes=f_{f.py})")
            run.clear()

        tagged = sorted((f for f in st.fields if flex and v in f.versions and v in f.tagged), key=lambda f: f.tag or 0)
        for f in st.fields:
            if v not in f.versions or f in tagged:
                continue
            names.append(f.py)
            if not f.is_array and f.type in FIXED:
                run.append(f)
                continue
            flush()
            body.extend(self.dec_value(f, v, f"f_{f.py}", "    ", self.compact(f, v), v in f.nullable))
        flush()
        if flex:
            if not tagged:
                body.append("    r.skip_tagged_fields()")
            else:
                for f in tagged:
                    names.append(f.py)
                    body.append(f"    f_{f.py} = {default_expr(f)}")
                body.append("    for _ in range(r.uvarint()):")
                body.append("        _tag, _end = r.tag_header()")
                kw = "if"
                for f in tagged:
                    body.append(f"        {kw} _tag == {f.tag}:")
                    body.extend(self.dec_value(f, v, f"f_{f.py}", "            ", True, v in f.nullable))
                    kw = "elif"
                body.append("        else:")
                body.append("            r.pos = _end")
                body.append("        r.tag_end(_end)")
        args = ", ".join(f"{n}=f_{n}" for n in names)
        body.append(f"    return {st.name}({args})")
        return self._register(f"_d_{st.name}", f"(r: Reader) -> {st.name}", body)

    # --- encode
    def enc_value(
        self, f: Field, v: int, expr: str, ind: str, compact: bool, nullable: bool, wv: str = "w"
    ) -> list[str]:
        """Lines appending field ``f`` (value ``expr``) to the bytearray named ``wv``."""
        t = f.elem
        lines: list[str] = []
        va, ve, vs = f"_a_{f.py}", f"_e_{f.py}", f"_s_{f.py}"
        if f.is_array:
            lines.append(f"{ind}{va} = {expr}")
            if nullable:
                lines.append(f"{ind}if {va} is None:")
                null = f"{wv}.append(0)" if compact else f'{wv} += b"\\xff\\xff\\xff\\xff"'
                lines.append(f"{ind}    {null}")
                lines.append(f"{ind}else:")
                ind2 = ind + "    "
            else:
                if f.nullable_ever:
                    lines.append(f"{ind}if {va} is None:")
                    lines.append(f"{ind}    {va} = []")
                ind2 = ind
            if compact:
                lines.append(f"{ind2}w_uvarint({wv}, len({va}) + 1)")
            else:
                lines.append(f"{ind2}{wv} += I32.pack(len({va}))")
            if f.struct is not None:
                fn = self.enc_struct(f.struct, v)
                lines.append(f"{ind2}for {ve} in {va}:")
                lines.append(f"{ind2}    {fn}({wv}, {ve})")
            elif t in FIXED and t != "uuid":
                lines.append(f'{ind2}{wv} += struct.pack(f">{{len({va})}}{FIXED[t][0]}", *{va})')
            else:
                lines.append(f"{ind2}for {ve} in {va}:")
                lines.append(f"{ind2}    {self.scalar_enc(t, ve, compact, False, wv)}")
            return lines
        if f.struct is not None:
            fn = self.enc_struct(f.struct, v)
            lines.append(f"{ind}{vs} = {expr}")
            if nullable:
                lines.append(f"{ind}if {vs} is None:")
                lines.append(f"{ind}    {wv}.append(0xFF)")
                lines.append(f"{ind}else:")
                lines.append(f"{ind}    {wv}.append(1)")
                lines.append(f"{ind}    {fn}({wv}, {vs})")
            else:
                lines.append(f"{ind}{fn}({wv}, {vs} if {vs} is not None else {f.struct.name}())")
            return lines
        if not nullable and f.nullable_ever and t in ("string", "bytes", "records"):
            empty = '""' if t == "string" else 'b""'
            expr = f"({expr} or {empty})"
        return [f"{ind}{self.scalar_enc(t, expr, compact, nullable, wv)}"]

    def scalar_enc(self, t: str, expr: str, compact: bool, nullable: bool, wv: str = "w") -> str:
        if t in FIXED:
            if t == "uuid":
                return f"{wv} += {expr}.bytes"
            return f"{wv} += {self.sname(FIXED[t][0])}.pack({expr})"
        base = "string" if t == "string" else "bytes"
        if t == "records" and self.regions:
            base = "records"  # frames.w_*records: bytes, or a file region recorded in the RegionWriter
        name = "w_" + ("compact_" if compact else "") + ("nullable_" if nullable else "") + base
        return f"{name}({wv}, {expr})"

    def nondefault_cond(self, f: Field, expr: str) -> str:
        d = default_expr(f)
        if d in ("None",):
            return f"{expr} is not None"
        if d == "[]":
            return f"{expr}"
        if f.type in ("bytes", "records"):
            return f"len({expr}) != 0"
        return f"{expr} != {d}"

    def enc_struct(self, st: Struct, v: int) -> str:
        flex = v in self.msg.flexible
        body: list[str] = []
        run: list[Field] = []

        def flush() -> None:
            if not run:
                return
            fmt = "".join(FIXED[f.type][0] for f in run)
            args = ", ".join(f"m.{f.py}.bytes" if f.type == "uuid" else f"m.{f.py}" for f in run)
            body.append(f"    w += {self.sname(fmt)}.pack({args})")
            run.clear()

        tagged = sorted((f for f in st.fields if flex and v in f.versions and v in f.tagged), key=lambda f: f.tag or 0)
        for f in st.fields:
            if v not in f.versions or f in tagged:
                continue
            if not f.is_array and f.type in FIXED:
                run.append(f)
                continue
            flush()
            body.extend(self.enc_value(f, v, f"m.{f.py}", "    ", self.compact(f, v), v in f.nullable))
        flush()
        if flex:
            if not tagged:
                body.append("    w.append(0)")
            else:
                body.append("    _t: list[tuple[int, bytearray]] = []")
                for f in tagged:
                    body.append(f"    if {self.nondefault_cond(f, 'm.' + f.py)}:")
                    body.append("        _w = bytearray()")
                    body.extend(self.enc_value(f, v, f"m.{f.py}", "        ", True, v in f.nullable, "_w"))
                    body.append(f"        _t.append(({f.tag}, _w))")
                body.append("    w_tagged_fields(w, _t)")
        if len(body) == 0:
            body.append("    pass")
        return self._register(f"_e_{st.name}", f"(w: bytearray, m: {st.name}) -> None", body)


_FRAMES_IMPORT = [
    "from odradek.broker.protocol.frames import (",
    "    Region,",
    "    StreamedRecords,",
    "    w_compact_nullable_records,",
    "    w_compact_records,",
    "    w_nullable_records,",
    "    w_records,",
    ")",
]


def has_region_records(msg: Message) -> bool:
    """A response with records fields: those are typed and encoded to accept a file region too."""
    return msg.kind == "response" and any(f.type == "records" for st in msg.structs for f in st.fields)


def generate(msg: Message, source: str) -> str:
    em = Emitter(msg)
    versions = list(range(msg.valid.lo, msg.valid.hi + 1))
    dec = {v: em.dec_struct(msg.top, v) for v in versions}
    enc = {v: em.enc_struct(msg.top, v) for v in versions}
    top = msg.top.name
    lines = [
        f"# Generated by tools/gen_protocol.py from {msg.file} ({source}). Do not edit.",
        f'"""{msg.name}: API key {msg.api_key}, versions {msg.valid.lo}-{msg.valid.hi}, '
        f'flexible from {msg.flexible_version}."""',
        "",
        "from __future__ import annotations",
        "",
        "import struct",
        "import uuid",
        "from collections.abc import Callable",
        "from dataclasses import dataclass, field",
        "",
        "from odradek.broker.protocol.errors import ProtocolError",
        *(_FRAMES_IMPORT if em.regions else []),
        "from odradek.broker.protocol.primitives import (",
        "    I32,",
        "    UUID_ZERO,",
        "    Reader,",
        "    w_bytes,",
        "    w_compact_bytes,",
        "    w_compact_nullable_bytes,",
        "    w_compact_nullable_string,",
        "    w_compact_string,",
        "    w_nullable_bytes,",
        "    w_nullable_string,",
        "    w_string,",
        "    w_tagged_fields,",
        "    w_uvarint,",
        ")",
        "",
        "__all__ = [",
        '    "API_KEY",',
        '    "FLEXIBLE_VERSION",',
        '    "MAX_VERSION",',
        '    "MIN_VERSION",',
    ]
    lines += [f'    "{st.name}",' for st in sorted(msg.structs, key=lambda s: s.name)]
    lines += ['    "decode",', '    "encode",', "]", ""]
    lines += [
        f"API_KEY = {msg.api_key}",
        f"MIN_VERSION = {msg.valid.lo}",
        f"MAX_VERSION = {msg.valid.hi}",
        f"FLEXIBLE_VERSION: int | None = {msg.flexible_version}",
        "",
    ]
    for st in msg.structs:
        lines += ["", "@dataclass(slots=True, kw_only=True)", f"class {st.name}:"]
        if not st.fields:
            lines.append("    pass")
        lines += [dataclass_field(f, em.regions) for f in st.fields]
        lines.append("")
    lines.append("")
    for fmt, name in sorted(em.structs.items(), key=lambda kv: kv[1]):
        lines.append(f'{name} = struct.Struct(">{fmt}")')
    lines += ["", ""]
    lines += em.out
    lines.append(f"_DECODERS: dict[int, Callable[[Reader], {top}]] = {{")
    lines += [f"    {v}: {fn}," for v, fn in dec.items()]
    lines.append("}")
    lines.append(f"_ENCODERS: dict[int, Callable[[bytearray, {top}], None]] = {{")
    lines += [f"    {v}: {fn}," for v, fn in enc.items()]
    lines.append("}")
    lines += [
        "",
        "",
        f"def decode(r: Reader, version: int) -> {top}:",
        f'    """Decode a {top} body of ``version``; ProtocolError on malformed input."""',
        "    fn = _DECODERS.get(version)",
        "    if fn is None:",
        f'        raise ProtocolError(f"{top} version {{version}} not in {msg.valid.lo}-{msg.valid.hi}")',
        "    return fn(r)",
        "",
        "",
        f"def encode(w: bytearray, msg: {top}, version: int) -> None:",
        f'    """Append the {top} body of ``version`` to ``w``."""',
        "    fn = _ENCODERS.get(version)",
        "    if fn is None:",
        f'        raise ProtocolError(f"{top} version {{version}} not in {msg.valid.lo}-{msg.valid.hi}")',
        "    fn(w, msg)",
        "",
    ]
    return "\n".join(lines)


def source_label() -> str:
    return f"kafka-python {importlib.metadata.version('kafka-python')}"


def generate_registry(msgs: list[Message], source: str) -> str:
    """``registry.py``: every request/response module by API key, with static imports (mypy sees them)."""
    reqs = {m.api_key: m for m in msgs if m.kind == "request"}
    resps = {m.api_key: m for m in msgs if m.kind == "response"}
    keys = sorted(set(reqs) & set(resps))
    lines = [
        f"# Generated by tools/gen_protocol.py ({source}). Do not edit.",
        '"""Every generated request/response module pair, by API key: (key, name, request, response)."""',
        "",
        "from __future__ import annotations",
        "",
        "from types import ModuleType",
        "",
    ]
    lines += [
        f"from odradek.broker.protocol.messages import {m.module}"
        for m in sorted([reqs[k] for k in keys] + [resps[k] for k in keys], key=lambda m: m.module)
    ]
    lines += ["", "MESSAGES: tuple[tuple[int, str, ModuleType, ModuleType], ...] = ("]
    for k in keys:
        name = reqs[k].name.removesuffix("Request")
        lines.append(f'    ({k}, "{name}", {reqs[k].module}, {resps[k].module}),')
    lines += [")", ""]
    return "\n".join(lines)


def write_all(out_dir: Path) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    label = source_label()
    msgs = load_specs()
    for msg in msgs:
        path = out_dir / f"{msg.module}.py"
        path.write_text(generate(msg, label), encoding="utf-8")
        names.append(path.name)
    (out_dir / "registry.py").write_text(generate_registry(msgs, label), encoding="utf-8")
    names.append("registry.py")
    return names


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        names = set(write_all(tmp_dir))
        committed = {p.name for p in OUT_DIR.glob("*.py") if p.name != "__init__.py"}
        problems = []
        for name in sorted(names | committed):
            new = tmp_dir / name
            old = OUT_DIR / name
            if not old.exists():
                problems.append(f"missing: {name}")
            elif not new.exists():
                problems.append(f"stale (no spec): {name}")
            else:
                a = old.read_text(encoding="utf-8").splitlines()
                b = new.read_text(encoding="utf-8").splitlines()
                if a != b:
                    n = sum(1 for d in difflib.unified_diff(a, b, lineterm="") if d[:1] in "+-")
                    problems.append(f"differs: {name} ({n} changed lines)")
        if problems:
            print("generated protocol modules are out of date; run python tools/gen_protocol.py")
            for p in problems:
                print("  " + p)
            return 1
    print(f"{len(names)} generated protocol modules up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed modules differ")
    args = ap.parse_args(argv)
    if args.check:
        return check()
    names = write_all(OUT_DIR)
    print(f"wrote {len(names)} modules to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
