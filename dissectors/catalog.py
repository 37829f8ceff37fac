"""Names of the flow dissectors, read from the registry's declarations without importing any dissector (the
command line checks a --dissectors list before it starts workers)."""

from otscope.dissectors import registry

PROTOCOLS = tuple(registry.names())
TITLES = registry.ot_titles()          # "Modbus/TCP, EtherNet/IP, ...": for help texts
