"""HTTP/1.x constants (RFC 9112 section 3 request line, section 4 status line, section 5 field lines; RFC 9110
section 9 methods), the package's bounds and its anomaly kinds."""

from __future__ import annotations

from enum import StrEnum

# 80 http, 8080/8000/8081 common alternates (web HMIs, gateways), 2869 the Windows UPnP device host (ICSLAP);
# 8443 is HTTPS: the TLS package's
HTTP_PORTS = (80, 8080, 8000, 8081, 2869)
MAX_HEAD = 8 * 1024             # bytes of a message head read per direction (start line + fields): then DONE
PEEK_BYTES = MAX_HEAD + 1024    # what C hands this dissector per direction at most (a head and a first body piece)
MAX_FIELDS = 64                 # header field lines read per message
MAX_VALUE = 200                 # characters of a header value kept as a fact
MAX_TITLE_SCAN = 4096           # body bytes searched for <title> (the answer's first segment(s))
TITLE_OPEN, TITLE_CLOSE = "<title", "</title"   # the element searched for (case-insensitive)
TITLE_ATTRS, TITLE_MAX = 64, 512                # most bytes of its attributes, of its text
MAX_INFORMATIONAL = 2           # 1xx answers skipped before the final answer (RFC 9110 15.2)

# RFC 9110 section 9 and the IANA HTTP method registry's common ones (WebDAV, PATCH): a request line must start
# with one of these, a valid exchange is not guessed from any token
METHODS = frozenset({
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH", b"PROPFIND",
    b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"SEARCH", b"REPORT", b"SUBSCRIBE",
    b"UNSUBSCRIBE", b"NOTIFY", b"M-SEARCH", b"RPC_IN_DATA", b"RPC_OUT_DATA",
})
LONGEST_METHOD = max(len(m) for m in METHODS)
VERSIONS = frozenset({b"HTTP/1.0", b"HTTP/1.1", b"HTTP/0.9"})


class HttpAnomaly(StrEnum):
    """What this package counts (with a detail after a dash where one helps)."""

    BAD_REQUEST_LINE = "bad-request-line"        # a request line that is not METHOD SP target SP HTTP/x.y
    BAD_STATUS_LINE = "bad-status-line"          # a status line that is not HTTP/x.y SP 3DIGIT [SP reason]
    BAD_FIELD_LINE = "bad-field-line"            # a header line without a colon (RFC 9112 5.1), skipped
    HEAD_TOO_LONG = "head-too-long"              # no end of the head within MAX_HEAD bytes: read what was there
    TOO_MANY_FIELDS = "too-many-fields"          # more than MAX_FIELDS field lines: the rest not read
    ANSWER_WITHOUT_HEAD = "answer-without-head"  # server bytes after a valid request that start no status line
