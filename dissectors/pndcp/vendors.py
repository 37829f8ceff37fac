"""PROFIBUS & PROFINET International (PNO) vendor ids (the same ids for PROFIBUS and PROFINET), as data.

Only ids confirmed from a public vendor document are listed; any other id stays a number (``pn_vendor_id``).
The authoritative list is PI's Man_ID_Table.xml (https://www.profibus.com/IM/Man_ID_Table.xml).
"""

from __future__ import annotations

PNO_VENDORS: dict[int, str] = {
    0x002A: "Siemens",               # SIPROTEC 4 PROFINET IO profile C53000-L1840-C360-1, 2.2: "0x002a (Siemens AG)"
    0x010C: "HMS Industrial Networks",  # Anybus CompactCom 40 PROFINET IRT guide SCM-1202-023: "010Ch (HMS ...)"
    0x0153: "TR-Electronic",         # TR-Electronic PROFINET encoder manuals: "Vendor-ID ... 0x0153"
    0x0493: "RT-Labs",               # rt-labs p-net sample GSDML: VendorID="0x0493", VendorName "RT-Labs"
}


def vendor_name(vendor_id: int) -> str | None:
    return PNO_VENDORS.get(vendor_id)
