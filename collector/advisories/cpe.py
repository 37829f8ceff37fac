"""Vendor names, product families, model numbers and CPE 2.3 names of an asset, by documented per-vendor rules.

Every rule has an id (``RULES``); every CPE name and every family carries the id of the rule that made it, so a
security team can see why a device got a name. The same tables serve the matcher (``match.py``): a family rule's
``entry`` pattern recognises the family in an advisory's product name, its ``order``/``name`` patterns put an
asset in the family from its order number or its product name.

CPE 2.3 formatted strings (NISTIR 7695, section 6.2): ``cpe:2.3:part:vendor:product:version:update:edition:
language:sw_edition:target_sw:target_hw:other``; values are lower case, spaces become ``_``, every character other
than letters, digits, ``_``, ``-`` and ``.`` is escaped with a backslash (6.2.2.2 ``process_quoted_chars``; ``*`` and
``?`` too, as they are wildcards unescaped), an unknown value is ``*`` (ANY) and a hardware version not given ``-``
(NA). Vendor and product tokens follow the NVD dictionary's spelling where one exists (``siemens``,
``rockwellautomation``, ``schneider-electric``, ``wago``, ``moxa``, ``omron``, ``mitsubishielectric``, ``beckhoff``,
``phoenixcontact``, ``belden`` for Hirschmann); they are for export and SIEM use: the real advisories carry no CPE,
matching works from vendor, model numbers and product names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

MAX_FIELD = 256


class Part(str, Enum):
    HARDWARE = "h"
    FIRMWARE = "o"          # CPE "operating system" part: device firmware


# --- vendors -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VendorRule:
    key: str
    pattern: re.Pattern[str]
    cpe: str                # the NVD vendor token


VENDORS: tuple[VendorRule, ...] = tuple(VendorRule(k, re.compile(p, re.I), c) for k, p, c in (
    ("siemens", r"\bsiemens\b", "siemens"),
    ("rockwell", r"\brockwell\b|\ballen[\s-]*bradley\b", "rockwellautomation"),
    ("schneider", r"\bschneider\b|\btelemecanique\b", "schneider-electric"),
    ("wago", r"\bwago\b", "wago"),
    ("moxa", r"\bmoxa\b", "moxa"),
    ("omron", r"\bomron\b", "omron"),
    ("mitsubishi", r"\bmitsubishi\b", "mitsubishielectric"),
    ("beckhoff", r"\bbeckhoff\b", "beckhoff"),
    ("phoenixcontact", r"\bphoenix\s*contact\b", "phoenixcontact"),   # not "Phoenix Broadband", not Baxter's
    ("hirschmann", r"\bhirschmann\b", "belden"),
    ("abb", r"\babb\b", "abb"),
    ("advantech", r"\badvantech\b", "advantech"),
    ("sel", r"\bschweitzer\b", "selinc"),
    ("ge", r"\bgeneral electric\b|^ge\b", "ge"),
    ("honeywell", r"\bhoneywell\b", "honeywell"),
    ("emerson", r"\bemerson\b", "emerson"),
    ("yokogawa", r"\byokogawa\b", "yokogawa"),
    ("bosch", r"\bbosch\b", "bosch"),
))
_CORP = re.compile(r"\b(inc|llc|ltd|gmbh|ag|co|corp|corporation|company|kg|s\.?a|limited|plc)\b\.?", re.I)


def slug(text: str) -> str:
    """A lower-case token for a generic vendor or product: words joined by ``_``."""
    t = re.sub(r"\s+", " ", text.strip().lower())[:MAX_FIELD]
    return re.sub(r"[ ]", "_", t)


def vendor_keys(text: str | None) -> frozenset[str]:
    """Every known vendor named in a vendor string (CISA's multi-vendor ICSA-19-106-03 names five); a string
    naming none is one generic key: the words without corporate suffixes (``Acme Controls, Inc.`` -> acme_controls)."""
    if not text or not text.strip():
        return frozenset()
    t = text[:MAX_FIELD]
    keys = frozenset(v.key for v in VENDORS if v.pattern.search(t))
    if keys:
        return keys
    generic = slug(re.sub(r"[,.]", " ", _CORP.sub(" ", t)))
    return frozenset({generic.strip("_")}) if generic.strip("_") else frozenset()


def vendor_cpe(key: str) -> str:
    for v in VENDORS:
        if v.key == key:
            return v.cpe
    return key


# --- model numbers ---------------------------------------------------------------------------------------------

def norm(text: str) -> str:
    """Order/catalog numbers compared without spaces and case (``6ES7 315-2EH14-0AB0`` = ``6ES7315-2EH14-0AB0``)."""
    return re.sub(r"\s+", "", text).upper()


@dataclass(frozen=True, slots=True)
class Model:
    """A model / order / catalog number: ``key`` normalised; ``series`` the Rockwell series letters it names (empty:
    any); ``prefix`` True for a wildcard (``BMXP34*``, ``750-82xx``, ``CJ2M-CPU**``): a family, not a model."""

    key: str
    series: frozenset[str] = frozenset()
    prefix: bool = False

    def matches(self, other: Model) -> bool:
        if self.prefix or other.prefix:
            return False
        if self.key != other.key:
            return False
        return not (self.series and other.series and not (self.series & other.series))


_SIEMENS_ORDER = re.compile(r"\b(6[A-Z]{2}\d)\s?(\d{3})-(\d[A-Z]{2}\d{2})-(\d[A-Z]{2}\d)\b")
_ROCKWELL_CAT = re.compile(r"\b(1[67]\d\d|1[0-5]\d\d|2\d{3}|5069|5094|1732E)\s?-\s?([A-Z][A-Z0-9]{1,10})"
                           r"([xyz]+[A-Z0-9]*)?(?:\s*/\s*([A-Z])\b)?")     # 1756-L8z: z = any digit (a family)
_ROCKWELL_SERIES = re.compile(r"\bSeries\s+([A-Z](?:\s*/\s*[A-Z])*)\b")
_SCHNEIDER_PART = re.compile(r"\b(BM[XEHK]\s?[A-Z]{1,3}\s?\d{2,4}(?:\s?\d{3,4})?[A-Z0-9]*|TSX\s?[A-Z]{2,4}\s?\d{3,6}[A-Z]?"
                             r"|140\s?[A-Z]{3}\s?\d{3}\s?\d{2}|171\s?CBU\s?\d+|TM\d{3}[A-Z0-9]+)(\*|x\b)?")
_WAGO_ORDER = re.compile(r"\b(75[0-9]|762|752)-(\d{3,4}|\d{1,2}xx)(/\d{3}-\d{3}|/xxx-xxx)?", re.I)
_MOXA = re.compile(r"\b(MB\d{4}|NPort\s?[A-Z0-9]+(?:-[A-Z0-9]+)?|EDS-[A-Z0-9-]+|ioLogik\s?E\d{4})\b", re.I)
_OMRON = re.compile(r"\b((?:CJ2[MH]|CJ1[GHM]|CS1[DGH]|CP1[EHLW]|NJ\d{3}|NX\d{3}|NX1P2)(?:-[A-Z0-9*]+)?)", re.I)
_MITSU = re.compile(r"\b([RQL]\d{2,3}(?:\((?:EN)\))?[A-Z]*CPU(?:-[A-Z]+)?|FX5U[A-Z0-9-]*)\b")
_PHOENIX = re.compile(r"\b(ILC\s?\d{3}\s?[A-Z]*\s?(?:ETH)?(?:\s?2TX)?|AXC\s?\d{4}[A-Z]*|RFC\s?\d{3}[A-Z]?|FL SWITCH\s?\d{4}"
                      r"[A-Z0-9-]*|\d{7})\b")
_GENERIC_ORDER = re.compile(r"^[A-Z0-9][A-Z0-9 ./-]{3,63}$", re.I)


def _wild(tok: str) -> bool:
    return bool(re.search(r"(\*|xx|x$|\dx\b)", tok, re.I))


def models_in(vendor: str, text: str) -> list[Model]:
    """The model / order / catalog numbers written in a product name (per-vendor patterns)."""
    t = text[:512].replace("\xa0", " ")
    out: list[Model] = []
    for m in _SIEMENS_ORDER.finditer(t):
        out.append(Model(norm("".join((m.group(1), m.group(2), "-", m.group(3), "-", m.group(4))))))
    if vendor == "rockwell":
        series = _ROCKWELL_SERIES.search(t)
        letters = frozenset(re.findall(r"[A-Z]", series.group(1))) if series else frozenset()
        for m in _ROCKWELL_CAT.finditer(t):
            s = frozenset({m.group(4)}) if m.group(4) else letters
            out.append(Model(f"{m.group(1)}-{m.group(2)}".upper(), s, prefix=bool(m.group(3))))
    elif vendor == "schneider":
        for m in _SCHNEIDER_PART.finditer(t):
            out.append(Model(norm(m.group(1)).rstrip("X*"), prefix=bool(m.group(2)) or _wild(m.group(1))))
    elif vendor == "wago":
        for m in _WAGO_ORDER.finditer(t):
            tok = m.group(0)
            out.append(Model(norm(tok.split("/")[0]), prefix=_wild(tok.split("/")[0])))
    elif vendor == "moxa":
        out += [Model(norm(m.group(1))) for m in _MOXA.finditer(t)]
    elif vendor == "omron":
        out += [Model(norm(m.group(1)), prefix="*" in m.group(1)) for m in _OMRON.finditer(t)]
    elif vendor == "mitsubishi":
        for m in _MITSU.finditer(t):
            tok = norm(m.group(1))
            if "(EN)" in tok:
                out += [Model(tok.replace("(EN)", "")), Model(tok.replace("(EN)", "EN"))]
            else:
                out.append(Model(tok))
    elif vendor == "phoenixcontact":
        out += [Model(norm(m.group(1)), prefix=_wild(m.group(1))) for m in _PHOENIX.finditer(t)
                if not re.search(r"\dx", m.group(1))]
    return out


def asset_models(vendor: str, order_number: str | None, product: str | None, model: str | None) -> list[Model]:
    """An asset's model numbers: its order number as read (normalised) and any written in its product/model."""
    out: list[Model] = []
    if order_number and _GENERIC_ORDER.match(order_number.strip()):
        found = models_in(vendor, order_number)
        out += found or [Model(norm(order_number))]
    for text in (product, model):
        if text:
            out += models_in(vendor, text)
    seen: dict[tuple, Model] = {}
    for m in out:
        seen.setdefault((m.key, m.series, m.prefix), m)
    return list(seen.values())


# --- families ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Family:
    id: str                          # vendor:family, also the rule id of the family
    vendor: str
    title: str
    cpe_product: str
    entry: re.Pattern[str] | None    # the family named in an advisory's product name
    order: re.Pattern[str] | None    # an asset's normalised order / catalog number in the family
    name: re.Pattern[str] | None     # an asset's product / model text in the family
    exclude: re.Pattern[str] | None = None    # product text that is another family (X-200IRT is not X-200)


def _f(fid: str, title: str, cpe: str, entry: str | None, order: str | None, name: str | None,
       exclude: str | None = None) -> Family:
    return Family(fid, fid.split(":")[0], title, cpe, re.compile(entry, re.I) if entry else None,
                  re.compile(order) if order else None, re.compile(name, re.I) if name else None,
                  re.compile(exclude, re.I) if exclude else None)


FAMILIES: tuple[Family, ...] = (
    # Siemens: order numbers 6ES7 3xx (S7-300), 4xx (S7-400), 21x (S7-1200), 288 (S7-200 SMART), 51x (S7-1500),
    # 6GK5 2xx (SCALANCE X-200), 6GK5 3xx; SIPLUS variants are 6AG1/6AG2 with the same digits.
    _f("siemens:s7-300", "SIMATIC S7-300", "simatic_s7-300", r"\bS7-300\b.*\bCPU family\b",
       r"^6(?:ES7|AG1)31[2-9]-", r"\bS7-3\d\d\b|^CPU 31[2-9]"),
    _f("siemens:et200-s7-300", "ET 200 CPUs related to the S7-300 (IM151-8, IM154-8)", "simatic_et_200s_im151-8",
       r"\bS7-300\b.*CPU family.*related ET ?200", r"^6(?:ES7|AG1)15[14]-8", r"\bIM ?15[14]-8"),
    _f("siemens:s7-400", "SIMATIC S7-400", "simatic_s7-400", r"\bS7-400\b.*\bCPU family\b",
       r"^6(?:ES7|AG1)41[2-7]-", r"\bS7-4\d\d\b|^CPU 41[2-7]"),
    _f("siemens:s7-1200", "SIMATIC S7-1200", "simatic_s7-1200", r"\bS7-1200\b.*\bCPU family\b",
       r"^6(?:ES7|AG1)21[1-7]-", r"\bS7-12\d\d\b|^CPU 121\d"),
    _f("siemens:s7-200-smart", "SIMATIC S7-200 SMART", "simatic_s7-200_smart", r"\bS7-200 SMART\b",
       r"^6ES7288-", r"\bS7-200 SMART\b"),
    _f("siemens:s7-1500", "SIMATIC S7-1500", "simatic_s7-1500", r"\bS7-1500\b.*\bCPU family\b",
       r"^6(?:ES7|AG1|AG2)51[1-8]-", r"^CPU 151[1-8]", r"software controller|\bSP\b"),
    _f("siemens:et200-s7-1500", "ET 200SP CPUs related to the S7-1500", "simatic_et_200sp_cpu",
       r"\bS7-1500\b.*CPU family.*related ET ?200", r"^6(?:ES7|AG1)51[02]-", r"^CPU 151[02]SP"),
    _f("siemens:scalance-x-200", "SCALANCE X-200", "scalance_x-200", r"\bSCALANCE X-200(?![A-Z])",
       r"^6GK52[0-9]{2}-", r"\bSCALANCE X2\d\d\b", r"IRT|RNA"),
    _f("siemens:scalance-x-200irt", "SCALANCE X-200IRT", "scalance_x-200irt", r"\bSCALANCE X-200IRT\b", None,
       r"\bSCALANCE X2\d\d.*IRT"),
    _f("siemens:scalance-x-200rna", "SCALANCE X-200RNA", "scalance_x-200rna", r"\bSCALANCE X-200RNA\b", None,
       r"\bSCALANCE X20\dRNA"),
    _f("siemens:scalance-x-300", "SCALANCE X-300", "scalance_x-300", r"\bSCALANCE X-300\b", r"^6GK53\d{2}-",
       r"\bSCALANCE X[34]\d\d\b"),
    _f("siemens:logo", "LOGO!", "logo!", r"\bLOGO!", r"^6ED1052-", r"\bLOGO!"),
    # Rockwell: ControlLogix 5550/5560/5570/5580 = 1756-L5x/L6x/L7x/L8xE (GuardLogix: an S suffix); CompactLogix 5370
    # = 1769-L1x/L2x/L3xER, 5380 = 5069-L3xx, 5480 = 5069-L4xx; the older 1769-L2x/L3x (no ER) and 1768-L4x.
    _f("rockwell:controllogix-5550", "ControlLogix 5550", "controllogix_5550", r"\bControlLogix\s*5550\b",
       r"^1756-L5\d", r"ControlLogix\s*555\d"),
    _f("rockwell:controllogix-5560", "ControlLogix 5560", "controllogix_5560", r"\bControlLogix\s*5560\b",
       r"^1756-L6\d(?!S)", r"ControlLogix\s*556\d"),
    _f("rockwell:controllogix-5570", "ControlLogix 5570", "controllogix_5570", r"\bControlLogix\s*5570\b",
       r"^1756-L7\d(?!S)", r"ControlLogix\s*557\d"),
    _f("rockwell:controllogix-5580", "ControlLogix 5580", "controllogix_5580", r"\bControlLogix\s*5580\b",
       r"^1756-L8\dE(?!S)", r"ControlLogix\s*558\d"),
    _f("rockwell:guardlogix-5560", "GuardLogix 5560", "guardlogix_5560", r"(?<!Compact )(?<!Armor )GuardLogix\s*5560",
       r"^1756-L6\dS", r"(?<!Compact )GuardLogix\s*556\d"),
    _f("rockwell:guardlogix-5570", "GuardLogix 5570", "guardlogix_5570", r"(?<!Compact )(?<!Armor )GuardLogix\s*5570",
       r"^1756-L7\dS", r"(?<!Compact )GuardLogix\s*557\d"),
    _f("rockwell:guardlogix-5580", "GuardLogix 5580", "guardlogix_5580", r"(?<!Compact )(?<!Armor )GuardLogix\s*5580",
       r"^1756-L8\dES", r"(?<!Compact )GuardLogix\s*558\d"),
    _f("rockwell:compactlogix-5370", "CompactLogix 5370", "compactlogix_5370",
       r"(?<!Guard)(?<!Compact )CompactLogix\s*5370(?!\s*L\d)", r"^1769-L[123]\dERM?(?!S)", r"CompactLogix\s*53\d\d"),
    _f("rockwell:compactlogix-5370-l1", "CompactLogix 5370 L1", "compactlogix_5370_l1", r"CompactLogix\s*5370\s*L1\b",
       r"^1769-L1\dER", None),
    _f("rockwell:compactlogix-5370-l2", "CompactLogix 5370 L2", "compactlogix_5370_l2", r"CompactLogix\s*5370\s*L2\b",
       r"^1769-L2\dER", None),
    _f("rockwell:compactlogix-5370-l3", "CompactLogix 5370 L3", "compactlogix_5370_l3", r"CompactLogix\s*5370\s*L3\b",
       r"^1769-L3\dERM?(?!S)", None),
    _f("rockwell:compact-guardlogix-5370", "Compact GuardLogix 5370", "compact_guardlogix_5370",
       r"(?<!Armor )Compact GuardLogix\s*5370", r"^1769-L3\dERM?S", None),
    _f("rockwell:compactlogix-5380", "CompactLogix 5380", "compactlogix_5380", r"(?<!Guard)CompactLogix\s*5380",
       r"^5069-L3\d+ER(?!S)", r"CompactLogix\s*538\d"),
    _f("rockwell:compactlogix-5480", "CompactLogix 5480", "compactlogix_5480", r"CompactLogix\s*5480",
       r"^5069-L4", r"CompactLogix\s*548\d"),
    _f("rockwell:compactlogix-1769", "1769 CompactLogix (L2x/L3x)", "compactlogix_1769", r"\b1769 CompactLogix\b",
       r"^1769-L[23]\d(?!ER)", None),
    _f("rockwell:compactlogix-1768", "1768 CompactLogix", "compactlogix_1768", r"\b1768 CompactLogix\b",
       r"^1768-L4\d", None),
    _f("rockwell:micrologix-1400", "MicroLogix 1400", "micrologix_1400", r"\bMicroLogix 1400\b", r"^1766-L32",
       r"MicroLogix\s*1400"),
    _f("rockwell:micrologix-1100", "MicroLogix 1100", "micrologix_1100", r"\bMicroLogix 1100\b", r"^1763-L16",
       r"MicroLogix\s*1100"),
    _f("rockwell:point-io", "POINT I/O", "point_i/o", r"\bPOINT I/O\b", r"^1734-", r"POINT I/O"),
    _f("rockwell:flexlogix", "FlexLogix", "flexlogix", r"\bFlexLogix\b", r"^1794-L3\d", r"FlexLogix"),
    # Schneider: BMX P34 = Modicon M340 CPUs, BME P58/H58 = M580, TSX P57 = Premium, 140 CPU = Quantum, TM221 = M221
    _f("schneider:modicon-m340", "Modicon M340", "modicon_m340", r"\bM340\b", r"^BMXP34", r"\bM340\b|\bBMX ?P34"),
    _f("schneider:modicon-m580", "Modicon M580", "modicon_m580", r"\bM580\b(?!.*Safety)", r"^BME[PH]58",
       r"\bM580\b|\bBME ?[PH]58"),
    _f("schneider:modicon-m221", "Modicon M221", "modicon_m221", r"\bM221\b", r"^TM221", r"\bM221\b|\bTM221"),
    _f("schneider:modicon-m241", "Modicon M241", "modicon_m241", r"\bM241\b", r"^TM241", r"\bM241\b|\bTM241"),
    _f("schneider:modicon-m251", "Modicon M251", "modicon_m251", r"\bM251\b", r"^TM251", r"\bM251\b|\bTM251"),
    _f("schneider:modicon-premium", "Modicon Premium", "modicon_premium", r"\bPremium\b(?! communication)",
       r"^TSXP57", r"\bPremium\b|\bTSX ?P57"),
    _f("schneider:modicon-quantum", "Modicon Quantum", "modicon_quantum", r"\bQuantum\b(?! communication)",
       r"^140CPU", r"\bQuantum\b|\b140 ?CPU"),
    _f("schneider:modicon-momentum", "Modicon Momentum", "modicon_momentum", r"\bMomentum\b", r"^171CBU",
       r"\bMomentum\b"),
    _f("schneider:modicon-mc80", "Modicon MC80", "modicon_mc80", r"\bMC80\b", r"^BMKC80", r"\bMC80\b"),
    # WAGO: 750-81xx = PFC100, 750-82xx = PFC200, 751-9xxx = CC100, 752-8303 = Edge Controller, 762- = TP600
    _f("wago:pfc100", "PFC100", "pfc100", r"\bPFC100\b", r"^750-81\d\d", r"\bPFC100\b"),
    _f("wago:pfc200", "PFC200", "pfc200", r"\bPFC200\b", r"^750-82\d\d", r"\bPFC200\b"),
    _f("wago:cc100", "Compact Controller CC100", "compact_controller_100", r"\bCC100\b", r"^751-9", r"\bCC100\b"),
    _f("wago:edge-controller", "Edge Controller", "edge_controller", r"\bEdge Controller\b", r"^752-8303",
       r"\bEdge Controller\b"),
    _f("wago:tp600", "Touch Panel 600", "touch_panel_600", r"\bTP600\b|Touch Panel 600", r"^762-", r"\bTP600\b"),
    # Moxa: MGate MB3000 gateways (exact models are matched by model number)
    _f("moxa:mgate-mb3000", "MGate MB3000", "mgate_mb3000", r"\bMGate MB3000\b", r"^MB3\d{3}", r"\bMB3\d{3}\b"),
    # Omron: CJ, CS, CP, NJ/NX series from the model's prefix
    _f("omron:cj", "SYSMAC CJ series", "cj_series", r"\bCJ series\b", r"^CJ[12]", r"\bCJ[12][A-Z]?\b|^CJ[12]"),
    _f("omron:cj2m", "SYSMAC CJ2M", "cj2m", r"\bCJ2M\b", r"^CJ2M", r"\bCJ2M"),
    _f("omron:cj2h", "SYSMAC CJ2H", "cj2h", r"\bCJ2H\b", r"^CJ2H", r"\bCJ2H"),
    _f("omron:cs", "SYSMAC CS series", "cs_series", r"\bCS series\b", r"^CS1", r"\bCS1"),
    _f("omron:cp1", "SYSMAC CP1", "cp1", r"\bCP1[EHL]\b", r"^CP1[EHL]", r"\bCP1[EHL]"),
    _f("omron:nj", "NJ series", "nj_series", r"\bNJ(?:/NX)?[- ]series\b|\bNJ/NX\b|\bNJ series\b", r"^NJ\d",
       r"\bNJ\d{3}"),
    _f("omron:nx", "NX series", "nx_series", r"\bNJ/NX\b|\bNX[- ]series\b", r"^NX\d|^NX1P", r"\bNX(?:\d{3}|1P2)"),
    # Mitsubishi Electric MELSEC
    _f("mitsubishi:melsec-iq-r", "MELSEC iQ-R", "melsec_iq-r", r"\bMELSEC iQ-R\b(?! Series R\d)", r"^R\d{2,3}",
       r"\bR\d{2,3}(?:EN)?CPU\b"),
    _f("mitsubishi:melsec-q", "MELSEC-Q", "melsec_q", r"\bMELSEC-Q\b(?! Series Q\d)", r"^Q\d{2,3}U", r"\bQ\d{2,3}U"),
    _f("mitsubishi:melsec-iq-f", "MELSEC iQ-F", "melsec_iq-f", r"\bMELSEC iQ-F\b", r"^FX5", r"\bFX5"),
    # Beckhoff
    _f("beckhoff:twincat", "TwinCAT", "twincat", r"^TwinCAT\b", None, r"\bTwinCAT\b"),
    _f("beckhoff:cx", "Embedded PC CX", "cx", r"\bCX\d{4}\b", r"^CX\d{4}", r"\bCX\d{4}\b"),
    # Phoenix Contact: ILC 1x0 / 1x1 / 3xx Classic Line, FL SWITCH 3000/4000/4800
    _f("phoenixcontact:ilc-1x0", "ILC 1x0", "ilc_1x0", r"\bILC 1x0\b", None, r"\bILC 1\d0\b"),
    _f("phoenixcontact:ilc-1x1", "ILC 1x1", "ilc_1x1", r"\bILC 1x1\b", None, r"\bILC 1\d1\b"),
    _f("phoenixcontact:ilc-3xx", "ILC 3xx", "ilc_3xx", r"\bILC 3xx\b", None, r"\bILC 3\d\d\b"),
    _f("phoenixcontact:fl-switch-3000", "FL SWITCH 3000", "fl_switch_3000", r"\bFL SWITCH 3000\b", None,
       r"\bFL SWITCH 3\d{3}"),
    # Hirschmann (Belden): Classic platform RS/RSR/RSB/MS/OCTOPUS/MACH, HiOS RSP/MSP/GRS/OS/RED/EES, EAGLE20/30
    _f("hirschmann:rs", "RS (Classic)", "rs", r"Classic Platform Switches RS$", None, r"^RS[234]0-"),
    _f("hirschmann:rsr", "RSR (Classic)", "rsr", r"Classic Platform Switches RSR$", None, r"^RSR\d"),
    _f("hirschmann:rsb", "RSB (Classic)", "rsb", r"Classic Platform Switches RSB$", None, r"^RSB\d"),
    _f("hirschmann:ms", "MS (Classic)", "ms", r"Classic Platform Switches MS$", None, r"^MS[234]0-"),
    _f("hirschmann:octopus", "OCTOPUS", "octopus", r"\bOCTOPUS\b", None, r"\bOCTOPUS\b"),
    _f("hirschmann:mach", "MACH", "mach", r"\bMACH\d{3,4}\b", None, r"\bMACH\d{3,4}\b"),
    _f("hirschmann:rsp", "RSP (HiOS)", "rsp", r"\bRSP\b", None, r"^RSP"),
    _f("hirschmann:eagle", "EAGLE20/30", "eagle", r"\bEAGLE\s?(?:20|30)", None, r"\bEAGLE\s?(?:20|30)"),
)
FAMILY_BY_ID = {f.id: f for f in FAMILIES}


def families_named(vendors: frozenset[str], entry_name: str) -> frozenset[str]:
    """The families an advisory's product name names (``SIMATIC S7-300 CPU family (incl. related ET200 CPUs...)``
    names the S7-300 and the ET 200 CPUs related to it)."""
    t = entry_name[:512].replace("\xa0", " ")
    return frozenset(f.id for f in FAMILIES if f.vendor in vendors and f.entry is not None and f.entry.search(t))


@dataclass(frozen=True, slots=True)
class FamilyHit:
    family: str
    rule: str            # "order:<family>" or "name:<family>"
    evidence: str


def asset_families(vendor: str, models: list[Model], product: str | None, model: str | None) -> list[FamilyHit]:
    """The families an asset is in, from its order / catalog numbers, else from its product or model text."""
    out: dict[str, FamilyHit] = {}
    texts = [t for t in (product, model) if t]
    for f in FAMILIES:
        if f.vendor != vendor:
            continue
        if f.exclude is not None and any(f.exclude.search(t) for t in texts):
            continue
        if f.order is not None:
            for m in models:
                if f.order.search(m.key):
                    out.setdefault(f.id, FamilyHit(f.id, f"order:{f.id}", f"order number {m.key} is {f.title}"))
        if f.name is not None and f.id not in out:
            for t in texts:
                if f.name.search(t):
                    out.setdefault(f.id, FamilyHit(f.id, f"name:{f.id}", f"product {t[:80]!r} is {f.title}"))
    return list(out.values())


# --- CPE 2.3 ----------------------------------------------------------------------------------------------------

def escape(value: str | None, *, empty: str = "*") -> str:
    """One CPE 2.3 formatted-string value (NISTIR 7695 6.2.2.2): lower case, whitespace -> ``_``, every character
    but letters, digits, ``_``, ``-`` and ``.`` escaped with ``\\``; empty -> ``*`` (ANY) or ``-`` (NA)."""
    if value is None or not value.strip():
        return empty
    v = re.sub(r"\s+", "_", value.strip().lower()[:MAX_FIELD])
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_-." else "\\" + c for c in v
                   if c.isprintable())


def cpe23(part: Part, vendor: str, product: str, version: str | None, update: str | None = None) -> str:
    return ":".join(("cpe", "2.3", part.value, escape(vendor), escape(product), escape(version, empty="-"),
                     escape(update), "*", "*", "*", "*", "*", "*"))


@dataclass(frozen=True, slots=True)
class CpeName:
    part: Part
    cpe: str
    rule: str


RULES = {
    "siemens-order": "Siemens order number (6ES7/6AG1/6GK/6AV/6ED): hardware = the order number; firmware = "
                     "<family>_firmware (family from the order number digits)",
    "rockwell-catalog": "Rockwell catalog number (1756-/1769-/1734-/5069-, series after '/'): hardware = catalog "
                        "(update = series); firmware = <family or catalog>_firmware",
    "schneider-part": "Schneider part number (BMX/BME/TSX/140/TM) or Modicon family name: hardware = part or "
                      "family; firmware = <family>_firmware",
    "wago-order": "WAGO order number 750-/751-/752-/762- or controller family (PFC100/PFC200/CC100): "
                  "firmware = <family>_firmware",
    "vendor-model": "Moxa, Omron, Mitsubishi Electric, Beckhoff, Phoenix Contact, Hirschmann model in the product "
                    "name: hardware = model; firmware = <model or family>_firmware",
    "family": "a product family by the family rules (collector/advisories/cpe.py FAMILIES): hardware = family",
    "generic": "fallback: hardware = vendor + product words; firmware = <product>_firmware",
}


def _fw(v: str | None) -> str | None:
    if not v:
        return None
    return re.sub(r"^(?:firmware|fw)[\s_:]*", "", v.strip(), flags=re.I).lstrip("Vv") or None


def cpe_names(vendor_text: str | None, product: str | None, order_number: str | None, model: str | None,
              firmware: str | None, hardware_version: str | None = None) -> list[CpeName]:
    """The CPE names of an asset (hardware and firmware parts), each with its rule id. No vendor: none."""
    keys = sorted(vendor_keys(vendor_text))
    if not keys:
        return []
    vkey = keys[0]
    vend = vendor_cpe(vkey)
    models = asset_models(vkey, order_number, product, model)
    fams = asset_families(vkey, models, product, model)
    fw = _fw(firmware)
    out: list[CpeName] = []
    concrete = [m for m in models if not m.prefix]
    rule = {"siemens": "siemens-order", "rockwell": "rockwell-catalog", "schneider": "schneider-part",
            "wago": "wago-order"}.get(vkey, "vendor-model")
    fam_cpe = FAMILY_BY_ID[fams[0].family].cpe_product if fams else None
    if concrete:
        m = concrete[0]
        series = "".join(sorted(m.series)) or None
        out.append(CpeName(Part.HARDWARE, cpe23(Part.HARDWARE, vend, m.key, hardware_version, series), rule))
        fw_product = f"{fam_cpe or m.key}_firmware"
        out.append(CpeName(Part.FIRMWARE, cpe23(Part.FIRMWARE, vend, fw_product, fw), rule))
    for h in fams:
        f = FAMILY_BY_ID[h.family]
        out.append(CpeName(Part.HARDWARE, cpe23(Part.HARDWARE, vend, f.cpe_product, None), f"family:{f.id}"))
        if not concrete:
            out.append(CpeName(Part.FIRMWARE, cpe23(Part.FIRMWARE, vend, f"{f.cpe_product}_firmware", fw),
                               f"family:{f.id}"))
    if not out and (product or model):
        name = slug(product or model or "")
        out.append(CpeName(Part.HARDWARE, cpe23(Part.HARDWARE, vend, name, hardware_version), "generic"))
        out.append(CpeName(Part.FIRMWARE, cpe23(Part.FIRMWARE, vend, f"{name}_firmware", fw), "generic"))
    seen: set[str] = set()
    return [c for c in out if not (c.cpe in seen or seen.add(c.cpe))]      # type: ignore[func-returns-value]
