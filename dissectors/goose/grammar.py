"""GOOSE (IEC 61850-8-1 Annex A, C.2.3) and Sampled Values (IEC 61850-9-2 5.3.3, Annex A) frames: pure bytes ->
dataclasses. Layouts as Wireshark decodes them (epan/dissectors/packet-goose.c, packet-sv.c).

Frame after the ethertype: APPID(2) Length(2: from APPID to the APDU's end, >= 8) Reserved1(2: bit 15 simulation
in edition 2) Reserved2(2), then the APDU:
* goosePdu [APPLICATION 1] SEQUENCE { gocbRef [0] VisibleString, timeAllowedtoLive [1] INTEGER, datSet [2],
  goID [3] OPTIONAL, t [4] UtcTime, stNum [5], sqNum [6], simulation [7] BOOLEAN ("test" in edition 1),
  confRev [8], ndsCom [9] BOOLEAN, numDatSetEntries [10], allData [11] SEQUENCE OF Data };
* savPdu [APPLICATION 0] SEQUENCE { noASDU [0] INTEGER, security [1] OPTIONAL, seqASDU [2] SEQUENCE OF ASDU },
  ASDU SEQUENCE { svID [0], datSet [1] OPTIONAL, smpCnt [2], confRev [3], refrTm [4] OPTIONAL, smpSynch [5],
  smpRate [6] OPTIONAL, sample [7], smpMod [8] OPTIONAL }.

A header that contradicts itself raises Malformed/Truncated (the whole frame is counted); a defect inside the
PDU is listed in ``anomalies`` and stops the fields after it (like Wireshark's BER sequence), the fields before
it are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.goose.ber import boolean, integer, read_length, read_tag, read_tlv
from otscope.dissectors.goose.constants import (HEADER_LEN, MAX_ASDU, MAX_STRING, SIMULATION_BIT, GooseAnomaly,
                                                GooseTag, PduTag, SavTag)


@dataclass(slots=True)
class Header:
    appid: int
    length: int
    reserved1: int
    reserved2: int

    @property
    def simulation(self) -> bool:
        return bool(self.reserved1 & SIMULATION_BIT)


@dataclass(slots=True)
class GooseFrame:
    header: Header
    gocb_ref: str = ""
    time_allowed_to_live: int | None = None
    dat_set: str = ""
    go_id: str = ""
    st_num: int | None = None
    sq_num: int | None = None
    simulation: bool | None = None
    conf_rev: int | None = None
    nds_com: bool | None = None
    num_dat_set_entries: int | None = None
    anomalies: list[GooseAnomaly] = field(default_factory=list)


@dataclass(slots=True)
class Asdu:
    sv_id: str = ""
    dat_set: str = ""
    smp_cnt: int | None = None
    conf_rev: int | None = None
    smp_synch: int | None = None


@dataclass(slots=True)
class SvFrame:
    header: Header
    no_asdu: int | None = None
    asdus: list[Asdu] = field(default_factory=list)
    anomalies: list[GooseAnomaly] = field(default_factory=list)


def header(r: Reader, anomalies: list[GooseAnomaly]) -> tuple[Header, Reader]:
    """The 8-byte header and a reader over the APDU: the declared Length bounds it (Ethernet padding after it is
    not the PDU's); a frame cut before its Length (snap length) is read as far as it goes, with an anomaly."""
    appid, length, res1, res2 = r.u16be(), r.u16be(), r.u16be(), r.u16be()
    if length < HEADER_LEN:
        raise Malformed(f"GOOSE/SV Length {length} < {HEADER_LEN}")
    body = length - HEADER_LEN
    if body > r.remaining():
        anomalies.append(GooseAnomaly.SHORT_FRAME)
        body = r.remaining()
    return Header(appid, length, res1, res2), r.sub(body)


def _string(v: Reader) -> str:
    raw = v.rest()
    if raw.isascii() and len(raw) <= MAX_STRING:       # the common case: plain printable ASCII, no NUL padding
        s = raw.decode("ascii")
        if s.isprintable():
            return s.strip()
    return text(raw, MAX_STRING)


def _unsigned(v: Reader) -> int:
    return integer(v)


# field tag -> (attribute, decoder): T (UtcTime) and allData are not identity and are skipped (their TLV was
# bounds-checked by read_tlv)
_GOOSE_FIELDS = {
    int(GooseTag.GOCB_REF): ("gocb_ref", _string),
    int(GooseTag.TIME_ALLOWED_TO_LIVE): ("time_allowed_to_live", _unsigned),
    int(GooseTag.DAT_SET): ("dat_set", _string), int(GooseTag.GO_ID): ("go_id", _string),
    int(GooseTag.ST_NUM): ("st_num", _unsigned), int(GooseTag.SQ_NUM): ("sq_num", _unsigned),
    int(GooseTag.SIMULATION): ("simulation", boolean), int(GooseTag.CONF_REV): ("conf_rev", _unsigned),
    int(GooseTag.NDS_COM): ("nds_com", boolean),
    int(GooseTag.NUM_DAT_SET_ENTRIES): ("num_dat_set_entries", _unsigned),
}


def _goose_field(out: GooseFrame, tag: int, v: Reader) -> None:
    spec = _GOOSE_FIELDS.get(tag)
    if spec is not None:
        setattr(out, spec[0], spec[1](v))


_GOOSE_TAGS = frozenset(int(t) for t in GooseTag)


def parse_goose(data: bytes) -> GooseFrame:
    anomalies: list[GooseAnomaly] = []
    hdr, apdu = header(Reader(data), anomalies)
    out = GooseFrame(hdr, anomalies=anomalies)
    pdu = _outer(apdu, PduTag.GOOSE_PDU, GooseAnomaly.NOT_GOOSE_PDU, out.anomalies)
    if pdu is None:
        return out
    while pdu.remaining():
        if not _step(pdu, out.anomalies, lambda tag, v: _goose_field(out, tag, v), _GOOSE_TAGS):
            break
    return out


def _outer(apdu: Reader, tag: int, wrong: GooseAnomaly, anomalies: list[GooseAnomaly]) -> Reader | None:
    """The PDU's contents, or None (with an anomaly) when the APDU is not the expected one. A PDU whose length
    runs past the frame (a cut frame) is read as far as it goes: its complete fields are on the wire."""
    try:
        found = read_tag(apdu)
        length = read_length(apdu)
    except Truncated:
        anomalies.append(GooseAnomaly.TRUNCATED_FIELD)
        return None
    except Malformed:
        anomalies.append(wrong)
        return None
    if found != tag:
        anomalies.append(wrong)
        return None
    if length > apdu.remaining():
        anomalies.append(GooseAnomaly.TRUNCATED_FIELD)
        length = apdu.remaining()
    return apdu.sub(length)


def _step(r: Reader, anomalies: list[GooseAnomaly], use, known: frozenset[int]) -> bool:  # noqa: ANN001
    """One field of a SEQUENCE: read and handed to ``use``; False (with its anomaly) stops the sequence."""
    try:
        tlv = read_tlv(r)
        if tlv.tag not in known:
            anomalies.append(GooseAnomaly.UNEXPECTED_TAG)
            return False
        use(tlv.tag, tlv.value)
    except Truncated:
        anomalies.append(GooseAnomaly.TRUNCATED_FIELD)
        return False
    except Malformed:
        anomalies.append(GooseAnomaly.MALFORMED_FIELD)
        return False
    return True


_SAV_TAGS = frozenset(int(t) for t in (SavTag.NO_ASDU, SavTag.SECURITY, SavTag.SEQ_ASDU))
_ASDU_TAGS = frozenset(int(t) for t in (SavTag.SV_ID, SavTag.DAT_SET, SavTag.SMP_CNT, SavTag.CONF_REV,
                                        SavTag.REFR_TM, SavTag.SMP_SYNCH, SavTag.SMP_RATE, SavTag.SEQ_DATA,
                                        SavTag.SMP_MOD))


# refrTm, smpRate, the samples and smpMod are not identity
_ASDU_FIELDS = {int(SavTag.SV_ID): ("sv_id", _string), int(SavTag.DAT_SET): ("dat_set", _string),
                int(SavTag.SMP_CNT): ("smp_cnt", _unsigned), int(SavTag.CONF_REV): ("conf_rev", _unsigned),
                int(SavTag.SMP_SYNCH): ("smp_synch", _unsigned)}


def _asdu_field(a: Asdu, tag: int, v: Reader) -> None:
    spec = _ASDU_FIELDS.get(tag)
    if spec is not None:
        setattr(a, spec[0], spec[1](v))


def _seq_asdu(out: SvFrame, v: Reader) -> None:
    """seqASDU: SEQUENCE OF ASDU; at most MAX_ASDU are read (the grammar is not recursive: depth is fixed)."""
    while v.remaining():
        if len(out.asdus) >= MAX_ASDU:
            out.anomalies.append(GooseAnomaly.TOO_MANY_ASDU)
            return
        tlv = read_tlv(v)
        if tlv.tag != SavTag.ASDU:
            out.anomalies.append(GooseAnomaly.UNEXPECTED_TAG)
            return
        a = Asdu()
        out.asdus.append(a)
        while tlv.value.remaining():
            if not _step(tlv.value, out.anomalies, lambda tag, fv: _asdu_field(a, tag, fv), _ASDU_TAGS):
                return


def _sav_field(out: SvFrame, tag: int, v: Reader) -> None:
    if tag == SavTag.NO_ASDU:
        out.no_asdu = integer(v)
    elif tag == SavTag.SEQ_ASDU:
        _seq_asdu(out, v)


def parse_sv(data: bytes) -> SvFrame:
    anomalies: list[GooseAnomaly] = []
    hdr, apdu = header(Reader(data), anomalies)
    out = SvFrame(hdr, anomalies=anomalies)
    pdu = _outer(apdu, PduTag.SAV_PDU, GooseAnomaly.NOT_SAV_PDU, out.anomalies)
    if pdu is None:
        return out
    while pdu.remaining():
        if not _step(pdu, out.anomalies, lambda tag, v: _sav_field(out, tag, v), _SAV_TAGS):
            break
    return out
