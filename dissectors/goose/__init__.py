"""IEC 61850-8-1 GOOSE (ethertype 0x88B8) and IEC 61850-9-2 Sampled Values (ethertype 0x88BA): this package's one
declaration of itself (otscope/domain.py ProtocolSpec). Both are multicast publications: the frame's source MAC is
the publishing IED. The decoder strips 802.1Q tags before the frame dispatcher sees the ethertype."""

from otscope.domain import FrameEntry, Role, spec

ETHERTYPE_GOOSE = 0x88B8        # IEC 61850-8-1 Annex C (Wireshark packet-goose.c ETHERTYPE_IEC61850_GOOSE)
ETHERTYPE_SV = 0x88BA           # IEC 61850-9-2 5.3.3 (Wireshark packet-sv.c ETHERTYPE_IEC61850_SV)

SPEC = spec(
    "goose", title="IEC 61850 GOOSE / Sampled Values", ot=True, rank=2,
    protocols=("goose", "sv"), labels=("goose", "sv"), roles=(Role.RTU_IED,),
    frames=(FrameEntry("otscope.dissectors.goose.grammar:parse_goose", "otscope.dissectors.goose.facts:goose_facts",
                       ethertype=ETHERTYPE_GOOSE, context=("src",)),
            FrameEntry("otscope.dissectors.goose.grammar:parse_sv", "otscope.dissectors.goose.facts:sv_facts",
                       ethertype=ETHERTYPE_SV, context=("src",))),
    gap_note="GOOSE/SV publications carry control-block names, not vendor or firmware (MMS Identify does)",
    identifies=("the publishing IED's MAC: GOOSE gocbRef, dataset, goID, APPID, confRev, simulation/test flags; "
               "Sampled Values svID, dataset, smpSynch"),
)
