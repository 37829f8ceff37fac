"""Niagara Fox constants. The wire format is text (Tridium publishes no specification; the layout here is the
one Nmap's fox-info.nse and Digital Bond's research decode): a message is

    fox <type> <seq> <reply> <channel> <command>\\n
    {\\n
    <key>=<type char>:<value>\\n        (s string, i integer, z boolean; o object: o:<class> <n>[<n bytes>])
    ...
    };;\\n

Both ends open with a ``fox hello`` message: the client first (Workbench, a Supervisor, another station), the
station answers with its own (hostName, app.name "Station", app.version, vm, os, station.name, brandId...)."""

from __future__ import annotations

from enum import StrEnum

FOX_PORT = 1911
FOXS_PORT = 4911                 # Fox over TLS ("foxs"): only that it is encrypted is visible
MAX_MESSAGE = 32 * 1024          # our bound on one message buffered (a hello with a sysInfo object is a few KB)
MAX_LINE = 4096                  # a header or field line
MAX_FIELDS = 64                  # fields kept of one message
MAX_OBJECT = 16 * 1024           # declared length of an o: value
HELLO = "hello"
MAGIC = b"fox "

# hello keys -> the raw fact each becomes (fox_*); identity fields are derived in facts.py
FIELDS = {
    "fox.version": "fox_version", "hostName": "fox_host_name", "hostAddress": "fox_host_address",
    "app.name": "fox_app_name", "app.version": "fox_app_version", "vm.name": "fox_vm_name",
    "vm.version": "fox_vm_version", "os.name": "fox_os_name", "os.version": "fox_os_version",
    "station.name": "fox_station_name", "lang": "fox_lang", "timeZone": "fox_time_zone", "hostId": "fox_host_id",
    "vmUuid": "fox_vm_uuid", "brandId": "fox_brand_id",
}
WORKBENCH = "Workbench"          # app.name of Niagara's engineering tool

# TLS record header of a handshake (RFC 5246 6.2.1): content type 22, version 3.x; handshake type at byte 5
TLS_HANDSHAKE = 0x16
TLS_CLIENT_HELLO = 1
TLS_SERVER_HELLO = 2


class FoxAnomaly(StrEnum):
    BAD_HEADER = "fox-bad-header"            # a message line that is not "fox <type> <seq> <reply> <ch> <cmd>"
    BAD_BODY = "fox-bad-body"                # no "{" line, a field line without "=t:", a bad object length
    TOO_LONG = "fox-too-long"                # a line or a message over its bound
    FIELDS_LIMIT = "fox-fields-limit"
    NOT_TLS = "fox-not-tls"                  # tcp/4911 carrying neither TLS nor Fox
