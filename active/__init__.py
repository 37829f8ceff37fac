"""Opt-in, read-only active identification (issue 19).

An operator asks for it (``otscope identify`` or ``POST /api/v1/identify``), aims it at the coverage report's
gaps or at listed targets inside ``--allow`` ranges, and it sends only a fixed allow-list of identity reads:

* Modbus/TCP FC43/14 Read Device Identification (basic, regular, extended, following MoreFollows) and FC17
  Report Server ID, per unit id seen (pymodbus);
* EtherNet/IP RegisterSession, ListIdentity, Get_Attributes_All on the Identity object (class 1, instance 1),
  direct and through Unconnected Send to a backplane slot, UnregisterSession (pycomm3);
* S7 COTP connect with the rack/slot seen, Setup Communication, SZL 0x0011 and 0x001C reads (python-snap7).

Every byte a library sends goes through ``guard.GuardedSocket``, which parses each outgoing frame with the
allow-list of its protocol and refuses anything else before it reaches the wire. The answers are decoded by the
same dissectors the passive sensor runs, and their facts enter the inventory through the observation contract,
each saying ``method: active``, the request, the time and the operator.

Layering: this package imports otscope.contract, domain, dissectors and collector, never agent.
"""
