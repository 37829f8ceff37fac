"""Firmware versions and the version ranges of ICS advisories, compared as versions (never as strings).

Every form the CISA/vendor CSAF documents use (README of ../shared/advisories, "Quirks"):

* versions: ``V3.2.7``, ``v3.20``, ``16.20``, ``03.10.08(22)`` (WAGO: the number in brackets is the FW label),
  ``SV3.51``, ``V5.1 SP1 HF4``, ``V15.1 Upd4``, ``3.1 Build 4022.4``, ``Firmware__20.011``, ``firmware_32``,
  ``HiOS 07.0.02``; ``X`` as a per-product component (``V3.X.17``: the CPU's own minor);
* ranges: ``vers:all/*``; CISA's invalid vers ``vers:all/<V2.9.2`` and ``vers:all/>=V2.9.2<V2.9.4`` (accepted:
  the constraints after the slash, ``|`` optional); free text ``< V3.X.17``, ``<= 2.2``, ``All versions >= V2.0 and
  < V2.5``, ``> V2.5 < V2.9.2``, ``>= 1.0 | <= 1.32``, ``16 <= 20`` (16 through 20), ``28  - 32``, ``3.36 | 3.40``
  (a list), ``<v36.011_v35.013_v34.014`` (one fix per branch), ``>FW16_up_to_and_including_FW26`` (WAGO FW labels),
  ``<=the_first_5_digits_of_serial_number_22081`` (a serial-number range), conditions no packet shows
  (``... and Function State (FS) <= 3``, ``with Ethernet interface``);
* anything else (``750-82xx/xxx-xxx``, ``S7-1211``, ``<=W``) is an explicit ``UNKNOWN`` range: it never says
  "affected".

Constraints are evaluated with the vers algorithm (github.com/package-url/purl-spec VERSION-RANGE-SPEC.rst,
"Checking if a version is contained within a range"): sorted constraints, equality first, then the open ends and
each ``>``/``>=`` followed by ``<``/``<=``. An inclusive bound with fewer components covers its whole line
(``<= 33``: "versions 33 and prior" includes 33.11; ``<= 2.2`` includes 2.2 and 2.2.1).

Library check (issue 18): univers 32.0.1 rejects ``vers:all/<V2.9.7`` and its ``intdot`` compares
``3.2.7 < 3.2.16`` wrongly, so the comparison here is our own (tested, hypothesis: never raises, total order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

MAX_TEXT = 256                  # a version or range text longer than this is not read (hostile input)
QUALIFIERS = ("sp", "upd", "hf", "patch", "build")   # the order they sort in after the release numbers


class Op(str, Enum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "="
    NE = "!="


class RangeKind(str, Enum):
    ALL = "all"                  # every version
    CONSTRAINTS = "constraints"  # comparison constraints (vers algorithm)
    BRANCHES = "branches"        # one fix per release branch: affected below the fix of the device's branch
    FW_LABEL = "fw-label"        # WAGO firmware labels (FW16 < x <= FW26)
    SERIAL = "serial"            # the first digits of the serial number, not the firmware
    UNKNOWN = "unknown"          # not understood: never claims affected


class Verdict(str, Enum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not-affected"
    FIRMWARE_UNKNOWN = "firmware-unknown"     # the device's version (or serial) is not known
    UNDECIDED = "undecided"                   # the range or a condition in it cannot be checked


_QUAL_RE = re.compile(r"\s*(SP|HF|Upd(?:ate)?|Patch|Build)\s*(\d{1,6})(?:\.(\d{1,6}))?", re.I)
_VERSION_RE = re.compile(
    r"(?:firmware_+|FW\s*|SV|V|HiOS\s+)?"
    r"(?P<rel>(?:\d{1,9}|[xX](?=\.))(?:\.(?:\d{1,9}|[xX]))*)"
    r"(?:\((?P<label>\d{1,4})\))?"
    r"(?P<quals>(?:\s*(?:SP|HF|Upd(?:ate)?|Patch|Build)\s*\d{1,6}(?:\.\d{1,6})?)*)",
    re.I)


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version. ``release`` holds None where the text has ``X`` (a per-product component)."""

    release: tuple[int | None, ...]
    label: int | None = None                     # WAGO "(22)": the FW label
    quals: tuple[int, ...] = (0, 0, 0, 0, 0, 0)  # sp, upd, hf, patch, build, build minor
    text: str = field(default="", compare=False)

    @property
    def wildcard(self) -> bool:
        return None in self.release

    def key(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The sort key: release numbers without trailing zeros (4.4 == 4.4.0), then the qualifiers. A wildcard
        sorts as -1 here; ranges resolve wildcards against the device first (``resolve``)."""
        rel = [(-1 if c is None else c) for c in self.release]
        while len(rel) > 1 and rel[-1] == 0:
            rel.pop()
        return tuple(rel), self.quals

    def resolve(self, device: Version) -> Version:
        """``V3.X.17`` against device 3.2.7 is 3.2.17: each X takes the device's component (0 if it has none)."""
        if not self.wildcard:
            return self
        rel = tuple((device.release[i] if i < len(device.release) and device.release[i] is not None else 0)
                    if c is None else c for i, c in enumerate(self.release))
        return Version(rel, self.label, self.quals, self.text)

    def truncated(self, n: int) -> Version:
        return Version(self.release[:n], None, (0,) * len(self.quals), self.text)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: Version) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: Version) -> bool:
        return self.key() >= other.key()

    def same(self, other: Version) -> bool:
        return self.key() == other.key()

    def __str__(self) -> str:
        return ".".join("X" if c is None else str(c) for c in self.release)


def _quals(text: str) -> tuple[int, ...]:
    out = [0, 0, 0, 0, 0, 0]
    for m in _QUAL_RE.finditer(text):
        name = m.group(1).lower()
        name = "upd" if name.startswith("upd") else name
        i = QUALIFIERS.index(name)
        out[i] = int(m.group(2))
        if name == "build" and m.group(3):
            out[5] = int(m.group(3))
    return tuple(out)


def _match_version(text: str, pos: int = 0) -> re.Match[str] | None:
    return _VERSION_RE.match(text, pos)


def _from_match(m: re.Match[str]) -> Version:
    rel = tuple(None if c in ("x", "X") else int(c) for c in m.group("rel").split("."))
    label = int(m.group("label")) if m.group("label") else None
    return Version(rel[:12], label, _quals(m.group("quals") or ""), m.group(0).strip())


def parse_version(text: str | None) -> Version | None:
    """A whole text as one version, or None (``R311-V0``, empty, too long, not a version). Never raises."""
    if not text or not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    return _parse_version(text)


@lru_cache(maxsize=65536)          # firmware strings repeat across an inventory: parse each once
def _parse_version(text: str) -> Version | None:
    t = text.strip()
    t = re.sub(r"^(?:firmware|fw|version|rev(?:ision)?)[\s_:]*(?=[vV]?\d)", "", t, flags=re.I)
    m = _match_version(t)
    if m is None or m.end() != len(t):
        return None
    return _from_match(m)


@dataclass(frozen=True, slots=True)
class Constraint:
    op: Op
    version: Version

    def __str__(self) -> str:
        return f"{self.op.value}{self.version.text or self.version}"


@dataclass(frozen=True, slots=True)
class VersionRange:
    kind: RangeKind
    text: str
    constraints: tuple[Constraint, ...] = ()
    condition: str | None = None          # a condition no packet shows (Function State, "with Ethernet interface")
    why: str | None = None                # UNKNOWN: why the text was not understood


@dataclass(frozen=True, slots=True)
class Evaluation:
    verdict: Verdict
    reason: str


# --- parsing ranges --------------------------------------------------------------------------------------------

_NOTE = re.compile(r"\s*\((?!\d+\))[^()]*\)")            # "(only affected by CVE-...)", "(1.29 for NX7)"
_CONDITIONS = (
    re.compile(r"\s*(?:and|with)\s+Function State \(FS\)\s*(?:<=|<|>=|>|=)\s*\d+", re.I),
    re.compile(r"\s*with\s+Ethernet interface", re.I),
    re.compile(r"\s*only when running on [A-Za-z0-9 ]+?(?=\s*[<>=]|$)", re.I),
)
_ALL_PREFIX = re.compile(r"^(?:all\s+(?:firmware\s+)?versions?|all)\s*", re.I)
_OP_RE = re.compile(r"\s*(<=|>=|!=|<|>|=)?\s*")
_SEP_RE = re.compile(r"\s*(?:\||,|\band\b|;)?\s*", re.I)
_FW_LABEL = re.compile(r"^>\s*FW(\d{1,3})_up_to_and_including_FW(\d{1,3})$", re.I)
_SERIAL = re.compile(r"^(<=|<|>=|>)\s*the_first_(\d)_digits_of_serial_(?:number|No\.)_\"?(\d{1,9})\"?$", re.I)
_BRANCHES = re.compile(r"^<\s*v?\d+(?:\.\d+)*(?:_v?\d+(?:\.\d+)*)+$", re.I)
_DASH = re.compile(r"^(?P<a>[vV]?\d+(?:\.\d+)*)\s+-\s+(?P<b>[vV]?\d+(?:\.\d+)*)$")
_THROUGH = re.compile(r"^(?P<a>[vV]?\d+(?:\.\d+)*)\s*(?P<op><=|<)\s*(?P<b>[vV]?\d+(?:\.\d+)*)$")


def _unknown(text: str, why: str) -> VersionRange:
    return VersionRange(RangeKind.UNKNOWN, text, why=why)


def _constraints(body: str) -> list[Constraint] | None:
    """Every ``op version`` in the text, in order, separated by nothing, spaces, ``|``, ``,`` or ``and``; None
    when anything else is left over. A version without an operator is ``=``."""
    out: list[Constraint] = []
    pos, n = 0, len(body)
    while pos < n:
        sep = _SEP_RE.match(body, pos)
        pos = sep.end() if sep else pos
        if pos >= n:
            break
        opm = _OP_RE.match(body, pos)
        assert opm is not None
        vm = _match_version(body, opm.end())
        if vm is None or vm.end() == opm.end():
            return None
        op = Op(opm.group(1)) if opm.group(1) else Op.EQ
        out.append(Constraint(op, _from_match(vm)))
        pos = vm.end()
        if len(out) > 32:
            return None
    return out


def parse_range(text: str | None) -> VersionRange:
    """One ``product_version_range`` / ``product_version`` text (or a fixed version) as a range. Never raises."""
    if text is None or not isinstance(text, str):
        return _unknown("", "no version text")
    raw = text
    if len(raw) > MAX_TEXT:
        return _unknown(raw[:MAX_TEXT], "version text too long")
    t = raw.strip().replace("\xa0", " ")
    if not t:
        return _unknown(raw, "empty version text")
    if t.lower().startswith("vers:"):
        _scheme, slash, body = t[5:].partition("/")
        if not slash:
            return _unknown(raw, "vers without a slash")
        t = body.strip()
    condition = None
    for c in _CONDITIONS:
        m = c.search(t)
        if m:
            condition = m.group(0).strip()
            t = (t[:m.start()] + t[m.end():]).strip()
    t = _NOTE.sub("", t).strip()
    t = re.sub(r"^(?:versions?\s+|[vV]?\d+(?:\.\d+)*:\s*)", "", t, flags=re.I)     # "Version V4.4", "V4.7: < ..."
    t = _ALL_PREFIX.sub("", t).strip() if _ALL_PREFIX.match(t) else t
    if t in ("", "*"):
        return VersionRange(RangeKind.ALL, raw, condition=condition)
    if (m := _FW_LABEL.match(t)) is not None:
        lo, hi = int(m.group(1)), int(m.group(2))
        return VersionRange(RangeKind.FW_LABEL, raw, (Constraint(Op.GT, Version((lo,), lo, text=f"FW{lo}")),
                                                      Constraint(Op.LE, Version((hi,), hi, text=f"FW{hi}"))),
                            condition)
    if (m := _SERIAL.match(t)) is not None:
        digits = int(m.group(2))
        return VersionRange(RangeKind.SERIAL, raw, (Constraint(Op(m.group(1)), Version((int(m.group(3)),),
                                                                                      quals=(digits, 0, 0, 0, 0, 0),
                                                                                      text=m.group(3))),),
                            condition)
    if re.search(r"manufactur|produced|serial|hardware", raw, re.I):
        return _unknown(raw, "production dates, serial or hardware numbers are not firmware versions")
    if _BRANCHES.match(t):
        fixes = [parse_version(p) for p in t.lstrip("<").strip().split("_")]
        if all(f is not None for f in fixes):
            return VersionRange(RangeKind.BRANCHES, raw, tuple(Constraint(Op.LT, f) for f in fixes if f), condition)
    t = re.sub(r"^firmware_+", "", t, flags=re.I)
    t = re.sub(r"(?<=[<>=])\s*firmware_+", "", t, flags=re.I)
    if (m := _DASH.match(t)) is not None or (m := _THROUGH.match(t)) is not None:
        a, b = parse_version(m.group("a")), parse_version(m.group("b"))
        op = Op.LE if m.re is _DASH else Op(m.group("op"))
        if a is not None and b is not None:
            return VersionRange(RangeKind.CONSTRAINTS, raw, (Constraint(Op.GE, a), Constraint(op, b)), condition)
    cons = _constraints(t)
    if not cons:
        return _unknown(raw, "not a version range")
    return VersionRange(RangeKind.CONSTRAINTS, raw, tuple(cons), condition)


# --- evaluating ------------------------------------------------------------------------------------------------

def _eq(device: Version, bound: Version) -> bool:
    """Equality where a shorter bound without qualifiers covers its line (``33`` covers 33.11)."""
    if device.same(bound):
        return True
    if any(bound.quals) or len(bound.release) >= len(device.release):
        return False
    return device.truncated(len(bound.release)).same(bound)


def _holds(device: Version, c: Constraint) -> bool:
    b = c.version.resolve(device)
    if c.op is Op.EQ:
        return _eq(device, b)
    if c.op is Op.NE:
        return not _eq(device, b)
    if c.op is Op.LT:
        return device < b
    if c.op is Op.LE:
        return device <= b or _eq(device, b)
    if c.op is Op.GT:
        return device > b
    return device >= b


def contains(constraints: tuple[Constraint, ...], device: Version) -> bool:
    """The vers containment algorithm over resolved constraints (see the module docstring)."""
    cons = [Constraint(c.op, c.version.resolve(device)) for c in constraints]
    for c in cons:
        if c.op is Op.NE and _eq(device, c.version):
            return False
    for c in cons:
        if c.op in (Op.EQ, Op.LE, Op.GE) and _eq(device, c.version):
            return True
    rest = sorted((c for c in cons if c.op not in (Op.EQ, Op.NE)), key=lambda c: c.version.key())
    if not rest:
        return False
    first, last = rest[0], rest[-1]
    if first.op in (Op.LT, Op.LE) and _holds(device, first):
        return True
    if last.op in (Op.GT, Op.GE) and _holds(device, last):
        return True
    for cur, nxt in zip(rest, rest[1:]):
        if cur.op in (Op.GT, Op.GE) and nxt.op in (Op.LT, Op.LE) and _holds(device, cur) and _holds(device, nxt):
            return True
    return False


def _branches(rng: VersionRange, device: Version) -> Evaluation:
    fixes = sorted((c.version for c in rng.constraints), key=lambda v: v.key())
    major = device.release[0]
    for f in fixes:
        if f.release[0] == major:
            hit = device < f
            return Evaluation(Verdict.AFFECTED if hit else Verdict.NOT_AFFECTED,
                              f"branch {major}: {device.text or device} {'<' if hit else '>='} fix {f.text or f}")
    low, high = fixes[0].release[0], fixes[-1].release[0]
    if major is not None and low is not None and major < low:
        return Evaluation(Verdict.AFFECTED, f"{device.text or device} is older than every fixed branch ({rng.text})")
    if major is not None and high is not None and major > high:
        return Evaluation(Verdict.NOT_AFFECTED, f"{device.text or device} is newer than every fixed branch")
    return Evaluation(Verdict.UNDECIDED, f"branch {major} has no fix listed in {rng.text!r}")


def evaluate(rng: VersionRange, firmware: str | None, *, serial: str | None = None,
             fw_label: int | None = None) -> Evaluation:
    """Is a device with this firmware (and serial, and WAGO FW label) inside the range?"""
    if not isinstance(firmware, (str, type(None))) or not isinstance(serial, (str, type(None))):
        return Evaluation(Verdict.UNDECIDED, "firmware or serial is not text")
    return _evaluate(rng, firmware, serial, fw_label)


@lru_cache(maxsize=262144)         # a pure function of hashable values: one range meets the same firmware often
def _evaluate(rng: VersionRange, firmware: str | None, serial: str | None, fw_label: int | None) -> Evaluation:
    if rng.kind is RangeKind.UNKNOWN:
        return Evaluation(Verdict.UNDECIDED, f"version range not understood: {rng.text[:80]!r} ({rng.why})")
    cond = f"; condition not observable: {rng.condition}" if rng.condition else ""
    if rng.kind is RangeKind.ALL:
        if rng.condition:
            return Evaluation(Verdict.UNDECIDED, f"all versions{cond}")
        return Evaluation(Verdict.AFFECTED, "all versions")
    if rng.kind is RangeKind.SERIAL:
        c = rng.constraints[0]
        digits = c.version.quals[0]
        s = "".join(ch for ch in (serial or "") if ch.isdigit())
        if len(s) < digits:
            return Evaluation(Verdict.FIRMWARE_UNKNOWN, f"serial number unknown (range by serial: {rng.text[:80]})")
        dev = Version((int(s[:digits]),), text=s[:digits])
        hit = _holds(dev, Constraint(c.op, Version(c.version.release)))
        return _done(hit, f"serial prefix {dev.text} {'in' if hit else 'not in'} {rng.text[:80]}", cond)
    dev = parse_version(firmware) if firmware else None
    if firmware is None or not str(firmware).strip():
        return Evaluation(Verdict.FIRMWARE_UNKNOWN, f"firmware unknown (affected: {rng.text[:80]})")
    if dev is None:
        return Evaluation(Verdict.UNDECIDED, f"firmware {str(firmware)[:40]!r} is not a version")
    if rng.kind is RangeKind.FW_LABEL:
        label = dev.label if dev.label is not None else fw_label
        if label is None:
            return Evaluation(Verdict.UNDECIDED, f"FW label of {firmware!r} unknown (range {rng.text[:80]})")
        hit = contains(rng.constraints, Version((label,)))
        return _done(hit, f"FW{label} {'in' if hit else 'not in'} {rng.text[:80]}", cond)
    if rng.kind is RangeKind.BRANCHES:
        ev = _branches(rng, dev)
        return Evaluation(Verdict.UNDECIDED, ev.reason + cond) if cond and ev.verdict is Verdict.AFFECTED else ev
    hit = contains(rng.constraints, dev)
    resolved = " ".join(f"{c.op.value}{c.version.resolve(dev)}" for c in rng.constraints)
    shown = rng.text[:80] + (f" (resolved {resolved})" if any(c.version.wildcard for c in rng.constraints) else "")
    return _done(hit, f"{firmware} {'in' if hit else 'not in'} {shown}", cond)


def _done(hit: bool, reason: str, cond: str) -> Evaluation:
    if not hit:
        return Evaluation(Verdict.NOT_AFFECTED, reason)
    return Evaluation(Verdict.UNDECIDED if cond else Verdict.AFFECTED, reason + cond)
