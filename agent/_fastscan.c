/*
 * otscope fast path: the established-flow part of the capture loop, in C.
 *
 * The pure-Python loop in pipeline.py is the reference implementation and handles everything. This module
 * only takes over the common case: a packet of a flow that Python has already created, untagged or
 * 802.1Q/QinQ-tagged Ethernet, IPv4 without fragments or IPv6 without extension headers, TCP without
 * SYN, or UDP. For those it updates per-flow counters, checks for SPAN duplicates, tracks FIN/RST, and
 * when the flow has a dissector and the packet carries payload: counts it with the dissector's declared
 * steady-state layout (a spec) when it matches, else calls the dissector's feed() for in-order data, else
 * hands the payload to Python as an event. Anything else stops the scan at that record so Python processes
 * it, then the scan resumes after it.
 *
 * Per-flow counters here are added to the Python Flow's own counters when the flow is reported.
 *
 * Light flows: a conversation on ports no dissector and no OT label claims (HTTP, TLS, DNS, ...) needs no
 * Python object at all. Once light_config() has been called, such flows are created, oriented, counted,
 * ended on port reuse and expired here; Python hears of them only through compact events (new flow: its
 * hosts; first frame from a side: sender, MAC, TTL; end: its counters) and through expire_light(),
 * fold_light() and evict_light(), which hand back the same per-flow totals Pipeline._fold() would compute.
 * A packet of a light flow that Python must see after all (an IP fragment, IPv6 extension headers) makes
 * Python adopt() it: the light flow becomes an ordinary one with its counters.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>
#include <stdarg.h>

typedef struct {
    uint8_t ver, proto;
    uint16_t vlan, sport, dport;
    uint8_t src[16], dst[16];
} Key;                                  /* 40 bytes, zero-padded */
_Static_assert(sizeof(Key) == 40, "Key is hashed as five 64-bit words");

typedef struct {
    Key key;
    int32_t flow;                       /* -1 empty, -2 tombstone */
    uint8_t side;                       /* packets matching this key travel on this side */
} Slot;

typedef struct {
    int64_t pk[2], by[2], pl[2];
    double last;
    int64_t dk[2];
    uint8_t used, seen[2];              /* seen: Python has had the first frame of that side */
    uint8_t fin;                        /* bit per side: FIN seen; 3 after a RST */
    uint8_t mode;                       /* 0 no dissector, 1 C feeds in-order payload, 2 payload to Python */
    uint8_t proto;                      /* 6 TCP, 17 UDP */
    PyObject *feed, *out, *anom, *nseq; /* the dissector's feed(), its out/anomalies lists, Flow.nseq */
    /* steady-state specs a dissector hands over (fixed layouts, declared as data; shared, see Spec): whole
       frames whose category byte maps to a counter are counted here instead of being fed to Python */
    int16_t spec[2];                    /* indexes into Table.specs, -1 none */
    uint8_t guard[32];                  /* per-flow set of allowed values of the guard byte (e.g. unit ids) */
    uint32_t counts[2][8];
    int64_t spec_decoded;
    /* peek: a dissector of an IT protocol is handed at most this many payload bytes per direction (whole
       segments, while some budget is left); once both are spent it is detached quietly (DONE) */
    int64_t peek[2];
    uint8_t peek_on;
} FlowRec;

typedef struct {
    uint8_t min_len, len_off, len_size, len_le, len_add, cat_off, nfixed, guard_off, has_guard;
    uint8_t fixed_off[8], fixed_val[8];
    uint8_t table[2][256];
} Spec;

#define MAX_SPECS 256
#define LIGHT_BIT 0x40000000            /* Slot.flow of a light flow: LIGHT_BIT | index into Table.light */

typedef struct {
    Key key;                            /* client -> server */
    double first, last;
    int64_t pk[2], by[2], pl[2], dk[2];
    int64_t rep_pk, rep_by;             /* what fold_light() has already reported */
    int64_t seq;                        /* creation order, shared with Python flows (eviction picks the oldest) */
    int32_t prev, next;                 /* creation-order list of live light flows; free list through next */
    uint8_t used, seen[2], fin;
    /* peek (a light flow on a port an IT dissector claims with a byte budget): its first in-order payload
       bytes per direction go to Python as LIGHT_PEEK events until the budget is spent or Python stops it */
    uint8_t label;                      /* the protocol Python confirmed (index into its label list, 0 none) */
    uint8_t nseq_ok[2];
    int32_t peek[2];                    /* bytes per direction still to hand over (<= 0: none) */
    uint32_t nseq[2];                   /* next expected TCP sequence number per direction */
    /* peek memo (see Memo): 0 not looked up, 1 none (hand over as usual), 2 being compared with memo_i, 3 matched */
    uint8_t mstate, mlev;               /* mlev: events matched so far */
    int16_t memo_i;
    uint32_t mserial;
    long long mframe[4];                /* the matched events' frames and times (for a partial match's event) */
    double mts[4];
} LightRec;

static void release(FlowRec *f) {
    Py_CLEAR(f->feed); Py_CLEAR(f->out); Py_CLEAR(f->anom); Py_CLEAR(f->nseq);
    f->spec[0] = f->spec[1] = -1;
}

/* flowtable.DissectorMode and flowtable.EventKind (checked against these at import) */
enum { MODE_OFF = 0, MODE_FEED = 1, MODE_EVENTS = 2 };
enum { EV_PAYLOAD = 0, EV_UDP = 1, EV_DRAIN = 2, EV_ERROR = 3, EV_LIGHT_NEW = 4, EV_LIGHT_FIRST = 5, EV_LIGHT_END = 6,
       EV_LIGHT_PEEK = 7, EV_LIGHT_MEMO = 8 };

/*
 * Named records handed to Python: PyStructSequence types (tuples whose fields have names; as cheap to make as
 * a tuple). Their field lists are the contract with agent/flowtable.py.
 */
static PyStructSequence_Field event_fields[] = {
    {"kind", "EventKind"}, {"flow", "flow id (-1: a light flow)"}, {"side", "0 client -> server, 1 back"},
    {"ts", "capture time"}, {"frame", "frame number"},
    {"payload", "PAYLOAD/UDP: bytes; DRAIN: feed() status; ERROR: exception name; LIGHT_*: a record"},
    {"seq", "PAYLOAD: TCP sequence number, else -1"}, {NULL, NULL}};
static PyStructSequence_Field light_totals_fields[] = {
    {"vlan", NULL}, {"cip", NULL}, {"sip", NULL}, {"proto", "6 TCP, 17 UDP"}, {"sport", "server port"},
    {"packets", "new since the last fold"}, {"bytes", "new since the last fold"}, {"first", NULL}, {"last", NULL},
    {"hosts_last", "both ends seen until (also when nothing is new)"},
    {"label", "the protocol Python confirmed on it (index into its label list, 0 none)"}, {NULL, NULL}};
static PyStructSequence_Field adopted_fields[] = {
    {"cip", NULL}, {"cport", NULL}, {"sip", NULL}, {"sport", NULL}, {"first", NULL}, {"last", NULL},
    {"pk0", NULL}, {"pk1", NULL}, {"by0", NULL}, {"by1", NULL}, {"pl0", NULL}, {"pl1", NULL},
    {"dk0", "last IPv4 id+checksum per side"}, {"dk1", NULL}, {"fin", "FIN bit per side, 3 after RST"},
    {"seen0", "first frame of side 0 handed to Python"}, {"seen1", NULL}, {"rep_pk", "already folded"},
    {"rep_by", NULL}, {"seq", "creation number"}, {NULL, NULL}};
static PyStructSequence_Field counters_fields[] = {
    {"pk0", NULL}, {"pk1", NULL}, {"by0", NULL}, {"by1", NULL}, {"pl0", NULL}, {"pl1", NULL}, {"last", NULL},
    {NULL, NULL}};
static PyStructSequence_Field state_fields[] = {{"last", NULL}, {"fin", NULL}, {NULL, NULL}};
static PyStructSequence_Field spec_counts_fields[] = {
    {"side0", "8 counters"}, {"side1", "8 counters"}, {"decoded", "bytes"}, {NULL, NULL}};
static PyStructSequence_Field scan_fields[] = {
    {"pos", "where the scan stopped"}, {"frame", NULL}, {"packets", NULL}, {"bytes", NULL}, {"dups", NULL},
    {"last", "time of the last packet (0.0: none)"},
    {"peeked", "1: it stopped after a LIGHT_PEEK event (pos is the next record, for C again)"}, {NULL, NULL}};
static PyStructSequence_Field light_hosts_fields[] = {
    {"vlan", NULL}, {"src", "None: Python has it"}, {"dst", "None: Python has it"}, {NULL, NULL}};
static PyStructSequence_Field first_frame_fields[] = {
    {"vlan", NULL}, {"ip", NULL}, {"mac", NULL}, {"ttl", NULL},
    {"syn", "a SYN or SYN-ACK: its TCP window (2 bytes) and options, else None (the passive OS hint)"},
    {"ack", "1: that SYN is a SYN-ACK"},
    {"hint", "its key in first_times() (a hash of the SYN bytes, 0 none)"}, {NULL, NULL}};
static PyStructSequence_Field expired_fields[] = {
    {"expired", "light flows removed"}, {"unsummed", "[LightTotals] the sums had no room for"}, {NULL, NULL}};
static PyStructSequence_Field light_count_fields[] = {{"live", NULL}, {"created", NULL}, {NULL, NULL}};
static PyStructSequence_Field peek_fields[] = {
    {"index", "the light flow (with seq: peek_set)"}, {"seq", "its creation number"}, {"vlan", NULL},
    {"cip", NULL}, {"cport", NULL}, {"sip", NULL}, {"sport", "server port"}, {"proto", "6 TCP, 17 UDP"},
    {"data", "the payload"}, {"last", "both directions' budgets are now spent"}, {NULL, NULL}};
static PyStructSequence_Field memo_prefix_fields[] = {
    {"index", "the light flow (with seq: peek_set)"}, {"seq", "its creation number"}, {"vlan", NULL},
    {"cip", NULL}, {"cport", NULL}, {"sip", NULL}, {"sport", "server port"}, {"proto", "6 TCP, 17 UDP"},
    {"memo", "the memo id its first events matched"}, {"frames", "the matched events' frames"},
    {"times", "the matched events' times"}, {NULL, NULL}};
static PyStructSequence_Field memo_stats_fields[] = {
    {"memo", "memo id"}, {"level", "event index (0-based)"}, {"hits", "flows that matched it since the last call"},
    {"first_frame", NULL}, {"first", "time of the first such event"}, {"last", "time of the last"}, {NULL, NULL}};

#define RECORD(name, doc, fields) {"otscope.agent._fastscan." name, doc, fields, \
                                   (int)(sizeof fields / sizeof fields[0]) - 1}
static PyStructSequence_Desc record_descs[] = {
    RECORD("Event", "what scan() hands back to Python", event_fields),
    RECORD("LightTotals", "what Pipeline folds for a light flow (or one conversation's)", light_totals_fields),
    RECORD("Adopted", "a light flow handed over to Python", adopted_fields),
    RECORD("FlowCounters", "what C counted of a Python flow", counters_fields),
    RECORD("FlowState", "last packet time and FIN/RST bits of a flow", state_fields),
    RECORD("SpecCounts", "frames counted by a dissector's spec since the last call", spec_counts_fields),
    RECORD("ScanResult", "where scan() stopped and what it counted", scan_fields),
    RECORD("LightHosts", "a new light flow's ends Python has no host for", light_hosts_fields),
    RECORD("FirstFrame", "the first frame from one side of a light flow", first_frame_fields),
    RECORD("Expired", "what expire_light() removed", expired_fields),
    RECORD("LightCount", "light flows live and created so far", light_count_fields),
    RECORD("Peek", "the first payload of a light flow on a port an IT dissector claims", peek_fields),
    RECORD("MemoPrefix", "a light flow whose first peek events matched a memo, then one did not", memo_prefix_fields),
    RECORD("MemoStats", "events of later flows that matched a memo", memo_stats_fields),
};
enum { R_EVENT, R_LIGHT_TOTALS, R_ADOPTED, R_COUNTERS, R_STATE, R_SPEC_COUNTS, R_SCAN, R_LIGHT_HOSTS, R_FIRST_FRAME,
       R_EXPIRED, R_LIGHT_COUNT, R_PEEK, R_MEMO_PREFIX, R_MEMO_STATS, N_RECORDS };
_Static_assert(sizeof record_descs / sizeof record_descs[0] == N_RECORDS, "one descriptor per record type");
static PyTypeObject *record_types[N_RECORDS];

/* a named record from a Py_BuildValue tuple format ("(...)", one item per field) */
static PyObject *record(int which, const char *fmt, ...) {
    va_list va;
    va_start(va, fmt);
    PyObject *t = Py_VaBuildValue(fmt, va);
    va_end(va);
    if (!t) return NULL;
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != record_descs[which].n_in_sequence) {
        Py_DECREF(t);
        PyErr_Format(PyExc_SystemError, "%s: format does not match its fields", record_descs[which].name);
        return NULL;
    }
    PyObject *r = PyStructSequence_New(record_types[which]);
    if (r)
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) PyStructSequence_SET_ITEM(r, i, Py_NewRef(PyTuple_GET_ITEM(t, i)));
    Py_DECREF(t);
    return r;
}

/*
 * Peek memos (agent/peek.py): how the finished peek of a light flow looked, kept for the next flows of the same
 * conversation (same VLAN, client, server and server port; any client port). A dissector whose output depends only
 * on some bytes of each event it was handed (it names the rest: a TLS hello's random, session id and key share;
 * see Dissector.memo_plan) gives the same facts for a later flow whose events come from the same sides, with the
 * same lengths and the same compared bytes. Such events are counted here (first frame and time, last time, per
 * event level: memo_collect) instead of being handed over; once every event of the memo matched, the flow takes the
 * memo's label and its peek ends. The first event that does not match ends the comparison: Python is told which
 * events matched (a MemoPrefix event), feeds the memo's bytes of those events to a new dissector and then the
 * flow's own payload as usual. A memo that flows are being compared with is never replaced (refs).
 */
#define MEMO_CAP 1024                   /* slots (a power of two) */
#define MEMO_PROBE 4
#define MEMO_EVENTS 4
#define MEMO_RANGES 8
#define MEMO_BYTES 4096                 /* compared bytes of one event, at most */
/* event modes: positional compare (at least / exactly that length), or equal text-head normal forms (TextSpec) */
enum { MEMO_AT_LEAST = 0, MEMO_EXACT = 1, MEMO_TEXT = 2 };

/*
 * A text head (a line protocol: start line, "name: value" lines, an empty line, a body; HTTP/1.x) as a dissector
 * declares it (dissectors/http TEXT_MEMO): its normal form keeps what that dissector reads and blanks the rest:
 * the second token of the client's start line (the request target) when drop_target, the values of the lines
 * whose name is not kept (a value with a CR in it gives no normal form), then body_window bytes after the head
 * (the server side). A head must end within max_head bytes, else there is none.
 */
#define TEXT_SPECS 4
#define TEXT_KEEP 8
typedef struct {
    int used, max_head, body_window, drop_target[2];
    int nkeep[2];
    char keep[2][TEXT_KEEP][32];        /* lower-case names whose values are kept */
    uint8_t keeplen[2][TEXT_KEEP];
    char cond[32];                      /* a name whose value is kept only when no body follows the head */
    uint8_t condlen;
    /* the body is searched for an element (case-insensitive ASCII: open, at most attrs bytes up to '>', at most
       content bytes, close; the first match, as the dissector's regular expression finds it): when the first
       open starts a match, the body after it does not matter */
    char open[16], close[16];
    uint8_t openlen, closelen;
    int attrs, content;
} TextSpec;

typedef struct {
    uint8_t used, nev, label;
    uint16_t refs;                      /* light flows being compared with it */
    uint32_t serial;
    Key key;                            /* the conversation: client port 0 */
    uint8_t side[MEMO_EVENTS], exact[MEMO_EVENTS], nr[MEMO_EVENTS];   /* exact: the event's mode */
    int32_t len[MEMO_EVENTS];           /* the event's length (exact), its least (at least), the TextSpec (text) */
    int32_t rs[MEMO_EVENTS][MEMO_RANGES], re[MEMO_EVENTS][MEMO_RANGES];   /* compared byte ranges */
    uint8_t *ref[MEMO_EVENTS];          /* the original event's bytes up to the last compared one */
    int64_t hits[MEMO_EVENTS];
    long long first_frame[MEMO_EVENTS];
    double first_ts[MEMO_EVENTS], last_ts[MEMO_EVENTS];
} Memo;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    Py_ssize_t cap, fill;               /* fill counts used + tombstones */
    FlowRec *flows;
    Py_ssize_t nflows;
    double dupwin;
    int shard_k, shard_n;               /* this worker owns conversations whose shard is shard_k */
    Spec *specs;                        /* distinct specs, shared by the flows that use them */
    int nspecs;
    /* light flows */
    int light_on;
    LightRec *light;
    Py_ssize_t lcap, nlight, npy, max_flows;
    int32_t lfree, lhead, ltail;
    int64_t seq;
    long long light_created;
    uint8_t pyports[2][8192];           /* [tcp, udp] ports whose flows Python must own (dissectors, OT) */
    uint8_t srvports[8192];             /* flows.SERVER_PORTS, for orient() */
    uint8_t initial_ttl[32];            /* pipeline.INITIAL_TTLS */
    uint8_t peekport[2][65536];         /* [tcp, udp] server port -> peek class (0 none), peek_config() */
    int32_t peek_budget[256];           /* peek class -> bytes per direction */
    struct SeenSet *hosts_known, *firsts;
    int hosts_full;                     /* Python's host table is at its cap: every new flow's ends are news */
    struct AggTable *agg;
    struct L2Watch *l2w;                /* watched layer-2 frames counted here (see l2_watch) */
    Py_ssize_t l2w_cap, l2w_n;
    Key *exp;                           /* expected UDP ends (see expect): never light flows */
    Py_ssize_t exp_cap, exp_n;
    Memo *memos;                        /* MEMO_CAP slots once memo_put was called */
    TextSpec text[TEXT_SPECS];
    Py_ssize_t memo_n;
    uint32_t memo_serial;
    long long memo_hits, memo_events;   /* flows whose every memo event matched; events matched */
} Table;

static inline int bit(const uint8_t *map, unsigned port) { return map[port >> 3] >> (port & 7) & 1; }

/*
 * What Python has already been told, so the same news is not sent again: hosts it has created (it never
 * forgets one), and (host, MAC, initial TTL) first frames since the last snapshot (a repeat changes nothing
 * there: sent and dirty are set, the MAC is known with that TTL kind; see Pipeline._sender_mac). Full keys,
 * no hashes; when full the set is emptied, which only means some news is sent twice.
 */
typedef struct { uint8_t used, ver, initial, pad; uint16_t vlan; uint8_t mac[6]; uint8_t ip[16]; uint8_t pad2[4]; } Seen;
_Static_assert(sizeof(Seen) == 32, "Seen is hashed as 64-bit words");
typedef struct SeenSet { Seen *slots; double *tl; Py_ssize_t cap, n; } SeenSet;   /* tl: last time per slot */
#define SEEN_MAX (1 << 20)

static uint64_t mix(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w; memcpy(&w, p + i, 8);
        h ^= w; h *= 0xBF58476D1CE4E5B9ULL; h ^= h >> 31;
    }
    return h;
}

static void seen_clear(SeenSet *ss);

/* 1: newly added, 0: already there, -1: out of memory; *at: its slot */
static int seen_add(SeenSet **ps, const Seen *k, Py_ssize_t *at) {
    SeenSet *ss = *ps;
    if (!ss) {
        ss = *ps = PyMem_Calloc(1, sizeof(SeenSet));
        if (!ss) return -1;
    }
    if ((ss->n + 1) * 2 > ss->cap) {
        if (ss->cap >= SEEN_MAX) { seen_clear(ss); }
        else {
            Py_ssize_t ncap = ss->cap ? ss->cap * 2 : 1024;
            Seen *ns = PyMem_Calloc((size_t)ncap, sizeof(Seen));
            double *nt = PyMem_Calloc((size_t)ncap, sizeof(double));
            if (!ns || !nt) { PyMem_Free(ns); PyMem_Free(nt); return -1; }
            for (Py_ssize_t i = 0; i < ss->cap; i++) {
                if (!ss->slots[i].used) continue;
                uint64_t j = mix((const uint8_t *)&ss->slots[i], sizeof(Seen)) & (uint64_t)(ncap - 1);
                while (ns[j].used) j = (j + 1) & (uint64_t)(ncap - 1);
                ns[j] = ss->slots[i];
                nt[j] = ss->tl[i];
            }
            PyMem_Free(ss->slots);
            PyMem_Free(ss->tl);
            ss->slots = ns; ss->tl = nt; ss->cap = ncap;
        }
    }
    uint64_t mask = (uint64_t)ss->cap - 1, j = mix((const uint8_t *)k, sizeof(Seen)) & mask;
    for (;; j = (j + 1) & mask) {
        if (!ss->slots[j].used) { ss->slots[j] = *k; ss->n++; *at = (Py_ssize_t)j; return 1; }
        if (memcmp(&ss->slots[j], k, sizeof(Seen)) == 0) { *at = (Py_ssize_t)j; return 0; }
    }
}

static void seen_clear(SeenSet *ss) {
    if (ss && ss->n) {
        memset(ss->slots, 0, (size_t)ss->cap * sizeof(Seen)); memset(ss->tl, 0, (size_t)ss->cap * sizeof(double));
        ss->n = 0;
    }
}

static void seen_free(SeenSet *ss) { if (ss) { PyMem_Free(ss->slots); PyMem_Free(ss->tl); PyMem_Free(ss); } }

/*
 * Light flows' totals, summed per conversation key (vlan, client, server, transport, server port) until the
 * next snapshot: what Pipeline._fold would add for each flow, added up (sums, min first, max last, and the
 * hosts' latest time over every flow, including flows with nothing new). Bounded: when full, folds go to
 * Python one by one as before.
 */
typedef struct {
    uint8_t used, ver, proto, label;
    uint16_t vlan, sport;
    uint8_t cip[16], sip[16];
    int64_t pk, by;
    double first, last, hlast;
} Agg;
typedef struct AggTable { Agg *slots; Py_ssize_t cap, n; } AggTable;
#define AGG_CAP (1 << 16)
#define AGG_KEY (offsetof(Agg, pk))

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline uint32_t rd32(const uint8_t *p, int le) {
    return le ? ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]) : be32(p);
}

static uint32_t fold_ip(const uint8_t *ip, int v6) {
    return v6 ? be32(ip) ^ be32(ip + 4) ^ be32(ip + 8) ^ be32(ip + 12) : be32(ip);
}

/* symmetric in the two ends; the same formula as pipeline.shard_of */
static int shard_of(const Key *k, int n) {
    uint32_t x = fold_ip(k->src, k->ver == 6) ^ fold_ip(k->dst, k->ver == 6) ^
                 (uint32_t)((uint32_t)(k->sport ^ k->dport) * 0x9E3779B1u);
    x = (x ^ (x >> 16)) * 0x45D9F3Bu;
    x ^= x >> 16;
    return (int)(x % (uint32_t)n);
}

static uint64_t hash_key(const Key *k) {
    /* the 40 key bytes as five 64-bit words, multiply-xor mixed (the table is open addressing, power of 2) */
    uint64_t w[5], h = 0x9E3779B97F4A7C15ULL;
    memcpy(w, k, sizeof w);
    for (int i = 0; i < 5; i++) { h ^= w[i]; h *= 0xBF58476D1CE4E5B9ULL; h ^= h >> 31; }
    return h;
}

static Slot *find(Table *t, const Key *k, int for_insert) {
    uint64_t mask = (uint64_t)t->cap - 1, i = hash_key(k) & mask;
    Slot *tomb = NULL;
    for (;;) {
        Slot *s = &t->slots[i];
        if (s->flow == -1) return for_insert ? (tomb ? tomb : s) : NULL;
        if (s->flow == -2) { if (!tomb) tomb = s; }
        else if (memcmp(&s->key, k, sizeof(Key)) == 0) return s;
        i = (i + 1) & mask;
    }
}

/* The table is full of live slots and tombstones: rehash. Flows come and go for days, so the capacity doubles
   only when live slots need it; otherwise the same size is rebuilt without its tombstones (memory stays
   bounded by the live flows, not by every flow ever seen). */
static int grow(Table *t) {
    Py_ssize_t live = 0;
    for (Py_ssize_t i = 0; i < t->cap; i++) live += t->slots[i].flow >= 0;
    Py_ssize_t ncap = (live + 2) * 4 > t->cap ? t->cap * 2 : t->cap;
    Slot *old = t->slots, *ns = PyMem_Calloc((size_t)ncap, sizeof(Slot));
    if (!ns) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < ncap; i++) ns[i].flow = -1;
    Py_ssize_t ocap = t->cap;
    t->slots = ns; t->cap = ncap; t->fill = 0;
    for (Py_ssize_t i = 0; i < ocap; i++) {
        if (old[i].flow >= 0) { Slot *s = find(t, &old[i].key, 1); *s = old[i]; t->fill++; }
    }
    PyMem_Free(old);
    return 0;
}

static int key_from(PyObject *ip, Key *k, int is_src) {
    uint8_t *dst = is_src ? k->src : k->dst;
    if (PyLong_Check(ip)) {
        unsigned long v = PyLong_AsUnsignedLong(ip);
        if (PyErr_Occurred()) return -1;
        k->ver = 4;
        dst[0] = (uint8_t)(v >> 24); dst[1] = (uint8_t)(v >> 16); dst[2] = (uint8_t)(v >> 8); dst[3] = (uint8_t)v;
        return 0;
    }
    if (PyBytes_Check(ip) && PyBytes_GET_SIZE(ip) == 16) {
        k->ver = 6;
        memcpy(dst, PyBytes_AS_STRING(ip), 16);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "address must be an int (IPv4) or 16 bytes (IPv6)");
    return -1;
}

/* the key of each direction of a conversation: a = client -> server (side 0), b = server -> client */
static int both_keys(Key *a, Key *b, int proto, int vlan, PyObject *cip, int cport, PyObject *sip, int sport) {
    memset(a, 0, sizeof *a); memset(b, 0, sizeof *b);
    if (key_from(cip, a, 1) < 0 || key_from(sip, a, 0) < 0) return -1;
    if (key_from(sip, b, 1) < 0 || key_from(cip, b, 0) < 0) return -1;
    a->proto = b->proto = (uint8_t)proto; a->vlan = b->vlan = (uint16_t)vlan;
    a->sport = (uint16_t)cport; a->dport = (uint16_t)sport; b->sport = (uint16_t)sport; b->dport = (uint16_t)cport;
    return 0;
}

/* add(flow_id, proto, vlan, cip, cport, sip, sport, dissector or None, nseq list[, peek bytes per direction, 0:
   no bound]): side 0 = client->server */
static PyObject *t_add(Table *t, PyObject *args) {
    int flow, proto, vlan, cport, sport;
    long long peek = 0;
    PyObject *cip, *sip, *diss, *nseq;
    if (!PyArg_ParseTuple(args, "iiiOiOiOO!|L", &flow, &proto, &vlan, &cip, &cport, &sip, &sport, &diss,
                          &PyList_Type, &nseq, &peek)) return NULL;
    if (PyList_GET_SIZE(nseq) != 2) { PyErr_SetString(PyExc_ValueError, "nseq must have 2 items"); return NULL; }
    if (flow < 0) { PyErr_SetString(PyExc_ValueError, "negative flow id"); return NULL; }
    if ((t->fill + 2) * 2 > t->cap && grow(t) < 0) return NULL;
    if (flow >= t->nflows) {
        Py_ssize_t n = t->nflows ? t->nflows : 1024;
        while (n <= flow) n *= 2;
        FlowRec *nf = PyMem_Realloc(t->flows, (size_t)n * sizeof(FlowRec));
        if (!nf) return PyErr_NoMemory();
        memset(nf + t->nflows, 0, (size_t)(n - t->nflows) * sizeof(FlowRec));
        t->flows = nf; t->nflows = n;
    }
    Key a, b;
    if (both_keys(&a, &b, proto, vlan, cip, cport, sip, sport) < 0) return NULL;
    for (int side = 0; side < 2; side++) {
        Key *k = side ? &b : &a;
        Slot *s = find(t, k, 0);
        if (!s) { s = find(t, k, 1); if (s->flow == -1) t->fill++; }
        s->key = *k; s->flow = flow; s->side = (uint8_t)side;
    }
    FlowRec *f = &t->flows[flow];
    if (!f->used) t->npy++;
    release(f);
    memset(f, 0, sizeof *f);
    f->used = 1; f->dk[0] = f->dk[1] = -2; f->proto = (uint8_t)proto; f->spec[0] = f->spec[1] = -1;
    if (diss != Py_None) {
        f->feed = PyObject_GetAttrString(diss, "feed");
        f->out = PyObject_GetAttrString(diss, "out");
        f->anom = PyObject_GetAttrString(diss, "anomalies");
        if (!f->feed || !f->out || !f->anom || !PyList_Check(f->out) || !PyList_Check(f->anom)) {
            release(f);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "dissector needs feed(), out and anomalies lists");
            return NULL;
        }
        Py_INCREF(nseq);
        f->nseq = nseq;
        f->mode = MODE_FEED;
        if (peek > 0) { f->peek_on = 1; f->peek[0] = f->peek[1] = peek; }
    }
    return PyLong_FromLongLong((long long)t->seq++);
}

static PyObject *t_remove(Table *t, PyObject *args) {
    int flow, proto, vlan, cport, sport;
    PyObject *cip, *sip;
    if (!PyArg_ParseTuple(args, "iiiOiOi", &flow, &proto, &vlan, &cip, &cport, &sip, &sport)) return NULL;
    Key a, b;
    if (both_keys(&a, &b, proto, vlan, cip, cport, sip, sport) < 0) return NULL;
    for (int side = 0; side < 2; side++) {
        Slot *s = find(t, side ? &b : &a, 0);
        if (s && s->flow == flow) s->flow = -2;
    }
    if (flow >= 0 && flow < t->nflows) {
        if (t->flows[flow].used) t->npy--;
        t->flows[flow].used = 0; release(&t->flows[flow]); t->flows[flow].mode = MODE_OFF;
    }
    Py_RETURN_NONE;
}

/* note(flow, side, dk, ts, fin): Python processed a packet of this flow (duplicate key, time, FIN/RST bits) */
static PyObject *t_note(Table *t, PyObject *args) {
    int flow, side, fin = 0;
    long long dk;
    double ts;
    if (!PyArg_ParseTuple(args, "iiLd|i", &flow, &side, &dk, &ts, &fin)) return NULL;
    if (flow >= 0 && flow < t->nflows && (side == 0 || side == 1)) {
        FlowRec *f = &t->flows[flow];
        f->dk[side] = dk;
        f->fin |= (uint8_t)fin;
        if (ts > f->last) f->last = ts;
    }
    Py_RETURN_NONE;
}

/* pipeline._sweep's rule: closed (FIN both ways or RST), else UDP, else TCP timeout */
static inline double timeout_of(uint8_t fin, uint8_t proto, double tcp_to, double udp_to, double closed_to) {
    return fin == 3 ? closed_to : proto == 17 ? udp_to : tcp_to;
}

/* idle(now, tcp, udp, closed) -> [flow ids] idle longer than their timeout (closed = FIN both ways or RST) */
static PyObject *t_idle(Table *t, PyObject *args) {
    double now, tcp_to, udp_to, closed_to;
    if (!PyArg_ParseTuple(args, "dddd", &now, &tcp_to, &udp_to, &closed_to)) return NULL;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < t->nflows; i++) {
        FlowRec *f = &t->flows[i];
        if (!f->used) continue;
        double limit = timeout_of(f->fin, f->proto, tcp_to, udp_to, closed_to);
        if (now - f->last > limit) {
            PyObject *id = PyLong_FromSsize_t(i);
            if (!id || PyList_Append(out, id) < 0) { Py_XDECREF(id); Py_DECREF(out); return NULL; }
            Py_DECREF(id);
        }
    }
    return out;
}

/* mark_seen(flow, side, seen=True): Python has had (or, False: wants again) the first frame of that side */
static PyObject *t_mark_seen(Table *t, PyObject *args) {
    int flow, side, seen = 1;
    if (!PyArg_ParseTuple(args, "ii|p", &flow, &side, &seen)) return NULL;
    if (flow >= 0 && flow < t->nflows && (side == 0 || side == 1)) t->flows[flow].seen[side] = (uint8_t)seen;
    Py_RETURN_NONE;
}

/* state(flow) -> (last, fin) */
static PyObject *t_state(Table *t, PyObject *args) {
    int flow;
    if (!PyArg_ParseTuple(args, "i", &flow)) return NULL;
    if (flow < 0 || flow >= t->nflows) return record(R_STATE, "(di)", 0.0, 0);
    return record(R_STATE, "(di)", t->flows[flow].last, (int)t->flows[flow].fin);
}

/*
 * records(buf, start, end, le, limit) -> (boundary, count, bad)
 * Walks classic-pcap record headers: boundary is the end of the last complete record in [start, end);
 * bad is the offset of a record whose captured length exceeds limit (else -1).
 */
static PyObject *m_records(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, end;
    int le;
    unsigned long limit;
    if (!PyArg_ParseTuple(args, "y*nnpk", &view, &pos, &end, &le, &limit)) return NULL;
    const uint8_t *buf = view.buf;
    if (end > view.len) end = view.len;
    Py_ssize_t n = 0, bad = -1;
    while (pos + 16 <= end) {
        uint32_t incl = rd32(buf + pos + 8, le);
        if (incl > limit) { bad = pos; break; }
        Py_ssize_t nxt = pos + 16 + (Py_ssize_t)incl;
        if (nxt > end) break;
        pos = nxt;
        n++;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnn)", pos, n, bad);
}

/* set_mode(flow, mode): 0 the dissector is gone, 1 C feeds it, 2 Python does (out-of-order data pending) */
static PyObject *t_set_mode(Table *t, PyObject *args) {
    int flow, mode;
    if (!PyArg_ParseTuple(args, "ii", &flow, &mode)) return NULL;
    if (flow < 0 || flow >= t->nflows || mode < 0 || mode > 2) Py_RETURN_NONE;
    FlowRec *f = &t->flows[flow];
    if (mode == MODE_OFF) release(f);
    if (mode != MODE_OFF && !f->feed) Py_RETURN_NONE;
    f->mode = (uint8_t)mode;
    Py_RETURN_NONE;
}

/* parse one spec tuple: (min_len, len_off, len_size (0 = none), len_add, fixed bytes (off, val, ...), cat_off,
   table side 0 (256 bytes), table side 1 (256 bytes), guard_off or -1, guard bitmap (32 bytes)[, len_le]) */
static int parse_spec(PyObject *tup, Spec *sp, uint8_t guard[32]) {
    int min_len, len_off, len_size, len_add, cat_off, guard_off, len_le = 0;
    Py_buffer fixed, t0, t1, gb;
    if (!PyArg_ParseTuple(tup, "iiiiy*iy*y*iy*|p", &min_len, &len_off, &len_size, &len_add, &fixed, &cat_off, &t0, &t1,
                          &guard_off, &gb, &len_le)) return -1;
    int ok = fixed.len <= 16 && fixed.len % 2 == 0 && t0.len == 256 && t1.len == 256 && gb.len == 32 &&
             len_size >= 0 && len_size <= 2 && min_len >= 0 && min_len < 256 && len_off + len_size <= min_len &&
             cat_off < min_len && guard_off < min_len && len_add >= 0 && len_add < 256 && len_off >= 0 && cat_off >= 0;
    for (Py_ssize_t i = 0; ok && i < fixed.len; i += 2) ok = ((uint8_t *)fixed.buf)[i] < min_len;
    if (ok) {
        memset(sp, 0, sizeof *sp);
        sp->min_len = (uint8_t)min_len; sp->len_off = (uint8_t)len_off; sp->len_size = (uint8_t)len_size;
        sp->len_le = (uint8_t)len_le; sp->len_add = (uint8_t)len_add; sp->cat_off = (uint8_t)cat_off;
        sp->nfixed = (uint8_t)(fixed.len / 2);
        for (int i = 0; i < sp->nfixed; i++) {
            sp->fixed_off[i] = ((uint8_t *)fixed.buf)[2 * i]; sp->fixed_val[i] = ((uint8_t *)fixed.buf)[2 * i + 1];
        }
        memcpy(sp->table[0], t0.buf, 256); memcpy(sp->table[1], t1.buf, 256);
        sp->has_guard = guard_off >= 0; sp->guard_off = (uint8_t)(guard_off < 0 ? 0 : guard_off);
        if (sp->has_guard) memcpy(guard, gb.buf, 32);
    }
    PyBuffer_Release(&fixed); PyBuffer_Release(&t0); PyBuffer_Release(&t1); PyBuffer_Release(&gb);
    if (!ok) { PyErr_SetString(PyExc_ValueError, "invalid dissector spec"); return -1; }
    return 0;
}

static int intern_spec(Table *t, const Spec *sp) {
    for (int i = 0; i < t->nspecs; i++) if (memcmp(&t->specs[i], sp, sizeof *sp) == 0) return i;
    if (t->nspecs >= MAX_SPECS) return -1;
    if (!t->specs) { t->specs = PyMem_Calloc(MAX_SPECS, sizeof(Spec)); if (!t->specs) return -1; }
    t->specs[t->nspecs] = *sp;
    return t->nspecs++;
}

/* set_spec(flow, None | spec tuple | list of up to 2 spec tuples) */
static PyObject *t_set_spec(Table *t, PyObject *args) {
    int flow;
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "iO", &flow, &spec)) return NULL;
    if (flow < 0 || flow >= t->nflows) Py_RETURN_NONE;
    FlowRec *f = &t->flows[flow];
    f->spec[0] = f->spec[1] = -1;
    if (spec == Py_None) Py_RETURN_NONE;
    PyObject *items = PyList_Check(spec) ? spec : NULL;
    Py_ssize_t n = items ? PyList_GET_SIZE(items) : 1;
    if (n > 2) { PyErr_SetString(PyExc_ValueError, "at most 2 specs per flow"); return NULL; }
    for (Py_ssize_t i = 0; i < n; i++) {
        Spec sp;
        if (parse_spec(items ? PyList_GET_ITEM(items, i) : spec, &sp, f->guard) < 0) {
            f->spec[0] = f->spec[1] = -1;
            return NULL;
        }
        f->spec[i] = (int16_t)intern_spec(t, &sp);
    }
    Py_RETURN_NONE;
}

/* spec_counts(flow) -> (counts side 0 (8), counts side 1 (8), decoded bytes); the counters restart at 0 */
static PyObject *t_spec_counts(Table *t, PyObject *args) {
    int flow;
    if (!PyArg_ParseTuple(args, "i", &flow)) return NULL;
    if (flow < 0 || flow >= t->nflows) return record(R_SPEC_COUNTS, "(()()L)", 0LL);
    FlowRec *f = &t->flows[flow];
    PyObject *a = PyTuple_New(8), *b = PyTuple_New(8);
    if (!a || !b) { Py_XDECREF(a); Py_XDECREF(b); return NULL; }
    for (int i = 0; i < 8; i++) {
        PyTuple_SET_ITEM(a, i, PyLong_FromUnsignedLong(f->counts[0][i]));
        PyTuple_SET_ITEM(b, i, PyLong_FromUnsignedLong(f->counts[1][i]));
    }
    PyObject *r = record(R_SPEC_COUNTS, "(NNL)", a, b, (long long)f->spec_decoded);
    memset(f->counts, 0, sizeof f->counts);
    f->spec_decoded = 0;
    return r;
}

/* counters(flow) -> (pk0, pk1, by0, by1, pl0, pl1, last) */
static PyObject *t_counters(Table *t, PyObject *args) {
    int flow;
    if (!PyArg_ParseTuple(args, "i", &flow)) return NULL;
    if (flow < 0 || flow >= t->nflows) return record(R_COUNTERS, "(LLLLLLd)", 0LL, 0LL, 0LL, 0LL, 0LL, 0LL, 0.0);
    FlowRec *f = &t->flows[flow];
    return record(R_COUNTERS, "(LLLLLLd)", (long long)f->pk[0], (long long)f->pk[1], (long long)f->by[0],
                  (long long)f->by[1], (long long)f->pl[0], (long long)f->pl[1], f->last);
}


/* A whole frame one of the flow's specs recognises: count it by category; 0 when the dissector must see it. */
static int spec_count(const Table *t, FlowRec *f, int d, const uint8_t *p, Py_ssize_t n) {
    for (int i = 0; i < 2; i++) {
        if (f->spec[i] < 0) continue;
        const Spec *sp = &t->specs[f->spec[i]];
        if (n < sp->min_len) continue;
        if (sp->len_size) {
            Py_ssize_t total = sp->len_size == 2 ? (Py_ssize_t)(sp->len_le ? (p[sp->len_off] | p[sp->len_off + 1] << 8)
                                                                           : be16(p + sp->len_off))
                                                 : p[sp->len_off];
            if (total + sp->len_add != n) continue;
        }
        int ok = 1;
        for (int j = 0; j < sp->nfixed && ok; j++) ok = p[sp->fixed_off[j]] == sp->fixed_val[j];
        if (!ok) continue;
        uint8_t k = sp->table[d][p[sp->cat_off]];
        if (k == 255) continue;
        if (sp->has_guard) {
            uint8_t g = p[sp->guard_off];
            if (d == 1 && !(f->guard[g >> 3] & (1 << (g & 7)))) continue;
        }
        f->counts[d][k & 7]++;
        f->spec_decoded += n;
        return 1;
    }
    return 0;
}

static int event(PyObject *events, int kind, int flow, int d, double ts, long long frame, PyObject *payload,
                 long long seq) {
    /* steals payload */
    PyObject *ev = payload ? record(R_EVENT, "(iiidLNL)", kind, flow, d, ts, frame, payload, seq) : NULL;
    if (!ev || PyList_Append(events, ev) < 0) { Py_XDECREF(ev); return -1; }
    Py_DECREF(ev);
    return 0;
}

/* ---- light flows ------------------------------------------------------------------------------------ */

static PyObject *ip_obj(const uint8_t *ip, int v6) {
    /* the Python pipeline's address form: IPv4 as int, IPv6 as 16 bytes */
    return v6 ? PyBytes_FromStringAndSize((const char *)ip, 16) : PyLong_FromUnsignedLong(be32(ip));
}

static int is_host_ip(const uint8_t *ip, int v6) {
    /* pipeline._is_host_ip: unicast, not unspecified */
    if (!v6) { uint32_t v = be32(ip); return v != 0 && (v >> 28) < 14; }
    if (ip[0] == 0xFF) return 0;
    for (int i = 0; i < 16; i++) if (ip[i]) return 1;
    return 0;
}

/* flows.orient: True when the sender of this first packet is the client */
static int orient(const Table *t, unsigned sp, unsigned dp, int syn_only, int synack) {
    if (syn_only) return 1;
    if (synack) return 0;
    int d_srv = bit(t->srvports, dp), s_srv = bit(t->srvports, sp);
    if (d_srv != s_srv) return d_srv;
    if (d_srv && s_srv) return dp <= sp;
    if ((dp < 1024) != (sp < 1024)) return dp < 1024;
    return 1;
}

static void reverse_key(const Key *a, Key *b) {
    memset(b, 0, sizeof *b);
    b->ver = a->ver; b->proto = a->proto; b->vlan = a->vlan;
    memcpy(b->src, a->dst, 16); memcpy(b->dst, a->src, 16);
    b->sport = a->dport; b->dport = a->sport;
}

/* LightTotals (vlan, cip, sip, proto, sport, new packets, new bytes, first, last, hosts' last): what a Python
   flow's fold would add for one flow */
static PyObject *light_fold(LightRec *L) {
    int v6 = L->key.ver == 6;
    int64_t pk = L->pk[0] + L->pk[1], by = L->by[0] + L->by[1];
    PyObject *r = record(R_LIGHT_TOTALS, "(iNNiiLLdddi)", (int)L->key.vlan, ip_obj(L->key.src, v6), ip_obj(L->key.dst, v6),
                                (int)L->key.proto, (int)L->key.dport, (long long)(pk - L->rep_pk),
                                (long long)(by - L->rep_by), L->first, L->last, L->last, (int)L->label);
    L->rep_pk = pk; L->rep_by = by;
    return r;
}

/* fold a light flow into its conversation's sums: 1 done, 0 the table is full (fold it alone), -1 error */
static int agg_fold(Table *t, LightRec *L) {
    if (!t->agg) { t->agg = PyMem_Calloc(1, sizeof(AggTable)); if (!t->agg) { PyErr_NoMemory(); return -1; } }
    AggTable *at = t->agg;
    if (!at->slots) {
        at->slots = PyMem_Calloc(AGG_CAP, sizeof(Agg));
        if (!at->slots) { PyErr_NoMemory(); return -1; }
        at->cap = AGG_CAP;
    }
    Agg k;
    memset(&k, 0, sizeof k);
    k.used = 1; k.ver = L->key.ver; k.proto = L->key.proto; k.vlan = L->key.vlan; k.sport = L->key.dport;
    k.label = L->label;
    memcpy(k.cip, L->key.src, 16); memcpy(k.sip, L->key.dst, 16);
    uint64_t mask = (uint64_t)at->cap - 1, j = mix((const uint8_t *)&k, AGG_KEY) & mask;
    Agg *a = NULL;
    for (;; j = (j + 1) & mask) {
        if (!at->slots[j].used) {
            if ((at->n + 1) * 2 > at->cap) return 0;
            a = &at->slots[j]; *a = k; a->first = L->first; a->last = L->last; a->hlast = L->last; at->n++;
            break;
        }
        if (memcmp(&at->slots[j], &k, AGG_KEY) == 0) { a = &at->slots[j]; break; }
    }
    int64_t pk = L->pk[0] + L->pk[1], by = L->by[0] + L->by[1];
    int64_t dpk = pk - L->rep_pk, dby = by - L->rep_by;
    L->rep_pk = pk; L->rep_by = by;
    if (L->last > a->hlast) a->hlast = L->last;
    if (dpk) {
        if (!a->pk || L->first < a->first) a->first = L->first;
        if (!a->pk || L->last > a->last) a->last = L->last;
        a->pk += dpk; a->by += dby;
    }
    return 1;
}

/* a light flow's totals: into the sums, else as a LightTotals appended to out (events: as an end event) */
static int fold_or_emit(Table *t, LightRec *L, PyObject *out, PyObject *events, double ts, long long frame) {
    int r = agg_fold(t, L);
    if (r != 0) return r < 0 ? -1 : 0;
    PyObject *folded = light_fold(L);
    if (!folded) return -1;
    if (out) { int e = PyList_Append(out, folded); Py_DECREF(folded); return e; }
    return event(events, EV_LIGHT_END, -1, 0, ts, frame, folded, -1);
}

static void memo_release(Table *t, LightRec *L);

static void light_unlink(Table *t, int32_t i) {
    LightRec *L = &t->light[i];
    memo_release(t, L);
    Key b;
    reverse_key(&L->key, &b);
    for (int side = 0; side < 2; side++) {
        Slot *s = find(t, side ? &b : &L->key, 0);
        if (s && s->flow == (LIGHT_BIT | i)) s->flow = -2;
    }
    if (L->prev >= 0) t->light[L->prev].next = L->next; else t->lhead = L->next;
    if (L->next >= 0) t->light[L->next].prev = L->prev; else t->ltail = L->prev;
    L->used = 0;
    L->next = t->lfree; t->lfree = i;
    t->nlight--;
}

/* a new light flow from its first packet (key k, as sent); -1 on error */
static int32_t light_new(Table *t, const Key *k, int client_is_sender, double ts) {
    if ((t->fill + 2) * 2 > t->cap && grow(t) < 0) return -1;
    if (t->lfree < 0) {
        Py_ssize_t n = t->lcap ? t->lcap * 2 : 1024;
        LightRec *nl = PyMem_Realloc(t->light, (size_t)n * sizeof(LightRec));
        if (!nl) { PyErr_NoMemory(); return -1; }
        for (Py_ssize_t i = n - 1; i >= t->lcap; i--) { nl[i].used = 0; nl[i].next = t->lfree; t->lfree = (int32_t)i; }
        t->light = nl; t->lcap = n;
    }
    int32_t i = t->lfree;
    LightRec *L = &t->light[i];
    t->lfree = L->next;
    memset(L, 0, sizeof *L);
    if (client_is_sender) L->key = *k; else reverse_key(k, &L->key);
    L->first = L->last = ts;
    L->dk[0] = L->dk[1] = -2;
    L->used = 1;
    uint8_t pc = t->peekport[L->key.proto == 17][L->key.dport];
    if (pc) L->peek[0] = L->peek[1] = t->peek_budget[pc];
    L->seq = t->seq++;
    L->prev = t->ltail; L->next = -1;
    if (t->ltail >= 0) t->light[t->ltail].next = i; else t->lhead = i;
    t->ltail = i;
    Key b;
    reverse_key(&L->key, &b);
    for (int side = 0; side < 2; side++) {
        Key *key = side ? &b : &L->key;
        Slot *s = find(t, key, 0);
        if (!s) { s = find(t, key, 1); if (s->flow == -1) t->fill++; }
        s->key = *key; s->flow = LIGHT_BIT | i; s->side = (uint8_t)side;
    }
    t->nlight++;
    t->light_created++;
    return i;
}

static int light_event(PyObject *events, int kind, int d, double ts, long long frame, PyObject *payload) {
    return event(events, kind, -1, d, ts, frame, payload, -1);
}

/*
 * One packet of a light flow (idx < 0: none yet, create it), in the order Pipeline._feed_py takes a packet:
 * TCP control (new flow, port reuse, FIN/RST), SPAN duplicate, first frame from a side, counters, peek.
 * 1: a peek event was made (the scan returns, so Python's dissector can end the peek before the next
 * packet), 0: counted, -1: error.
 */
static int light_peek(Table *t, PyObject *events, int32_t idx, LightRec *L, int d, const uint8_t *data,
                      Py_ssize_t plen, int syn, int64_t seq, double ts, long long frame);

static int light_packet(Table *t, PyObject *events, int32_t idx, int d, const Key *k, const uint8_t *f,
                        Py_ssize_t l3, Py_ssize_t l4, uint8_t ttl, uint32_t incl, Py_ssize_t plen, int64_t dk,
                        double ts, long long frame, long long *dups, Py_ssize_t p0, int64_t seq) {
    int v6 = k->ver == 6;
    int syn = 0, ack = 0, fin = 0, rst = 0;
    if (k->proto == 6) {
        uint8_t fl = f[l4 + 13];
        syn = fl & 0x02; ack = fl & 0x10; fin = fl & 0x01; rst = fl & 0x04;
    }
    if (idx >= 0 && syn && !ack) {
        LightRec *L = &t->light[idx];
        if (L->fin || L->pl[0] || L->pl[1]) {            /* port reuse: a new connection on an old key */
            if (fold_or_emit(t, L, NULL, events, ts, frame) < 0) return -1;
            light_unlink(t, idx);
            idx = -1;
        }
    }
    if (idx < 0) {
        int client = orient(t, k->sport, k->dport, syn && !ack, syn && ack);
        idx = light_new(t, k, client, ts);
        if (idx < 0) return -1;
        d = client ? 0 : 1;
        /* Pipeline._host for each end, for hosts Python does not have yet */
        int need[2] = {0, 0};
        const uint8_t *ends[2] = {k->src, k->dst};
        for (int e = 0; e < 2; e++) {
            if (!is_host_ip(ends[e], v6)) continue;
            Seen h;
            memset(&h, 0, sizeof h);
            h.used = 1; h.ver = k->ver; h.vlan = k->vlan; memcpy(h.ip, ends[e], 16);
            Py_ssize_t at;
            if ((need[e] = seen_add(&t->hosts_known, &h, &at)) < 0) { PyErr_NoMemory(); return -1; }
            if (t->hosts_full) need[e] = 1;          /* Python may have refused it: it counts each refusal */
        }
        if (need[0] || need[1]) {
            PyObject *a = need[0] ? ip_obj(k->src, v6) : Py_NewRef(Py_None);
            PyObject *b = need[1] ? ip_obj(k->dst, v6) : Py_NewRef(Py_None);
            PyObject *ev = record(R_LIGHT_HOSTS, "(iNN)", (int)k->vlan, a, b);
            if (!ev || light_event(events, EV_LIGHT_NEW, d, ts, frame, ev) < 0) return -1;
        }
    }
    LightRec *L = &t->light[idx];
    if (fin) L->fin |= (uint8_t)(1 << d);
    if (rst) L->fin |= 3;
    if (dk == L->dk[d] && ts - L->last <= t->dupwin && dk != -1) { (*dups)++; return 0; }
    L->dk[d] = dk;
    L->last = ts;
    if (!L->seen[d]) {
        const uint8_t *ip = k->src;                      /* the sender of this packet */
        if (!is_host_ip(ip, v6)) L->seen[d] = 1;
        else {
            static const char hx[] = "0123456789abcdef";
            char mac[17];
            for (int i = 0; i < 6; i++) {
                mac[3 * i] = hx[f[6 + i] >> 4]; mac[3 * i + 1] = hx[f[6 + i] & 15];
                if (i < 5) mac[3 * i + 2] = ':';
            }
            int news = 1;
            /* a SYN's window and options (bounded by its data offset and the packet): the OS hint's input */
            const uint8_t *sh = NULL;
            Py_ssize_t shn = 0;
            if (syn) {
                Py_ssize_t hl = (Py_ssize_t)(f[l4 + 12] >> 4) * 4;
                if (hl >= 20 && plen >= 0) {             /* (plen < 0: the header runs past the IP packet) */
                    sh = f + l4 + 14;
                    shn = hl - 14;                       /* window (2) + urgent/checksum skipped below */
                }
            }
            uint8_t synbuf[42];
            if (sh) {
                memcpy(synbuf, sh, 2);                   /* window */
                Py_ssize_t on = shn - 6 > 40 ? 40 : shn - 6;
                if (on > 0) memcpy(synbuf + 2, sh + 6, (size_t)on); else on = 0;
                shn = 2 + on;
                /* the timestamps' values change with every SYN: zeroed, so one stack's SYNs are one kind
                   (oshint/rules.py normalize walks the options the same way) */
                for (Py_ssize_t i = 2; i < shn;) {
                    uint8_t kind = synbuf[i];
                    if (kind == 0 || kind == 1) { i++; continue; }
                    if (i + 1 >= shn || synbuf[i + 1] < 2 || i + synbuf[i + 1] > shn) break;
                    if (kind == 8) memset(synbuf + i + 2, 0, (size_t)(synbuf[i + 1] - 2));
                    i += synbuf[i + 1];
                }
            }
            if (!(f[6] & 1)) {
                L->seen[d] = 1;                          /* (a group address as source: look again next frame) */
                Seen fk;
                memset(&fk, 0, sizeof fk);
                fk.used = 1; fk.ver = k->ver; fk.vlan = k->vlan; memcpy(fk.ip, ip, 16); memcpy(fk.mac, f + 6, 6);
                fk.initial = (uint8_t)(bit(t->initial_ttl, ttl) + 1);
                fk.pad = ttl;                            /* each TTL and SYN layout of a host is news once */
                if (sh) {
                    uint32_t hsh = 2166136261u ^ (ack ? 0x80000000u : 0);
                    for (Py_ssize_t i = 0; i < shn; i++) hsh = (hsh ^ synbuf[i]) * 16777619u;
                    hsh |= 1;                            /* never 0: a SYN differs from no SYN */
                    memcpy(fk.pad2, &hsh, 4);
                }
                Py_ssize_t at;
                if ((news = seen_add(&t->firsts, &fk, &at)) < 0) { PyErr_NoMemory(); return -1; }
                if (ts > t->firsts->tl[at]) t->firsts->tl[at] = ts;   /* the last such first frame (first_times) */
            }
            if (news) {
                PyObject *synobj = sh ? PyBytes_FromStringAndSize((const char *)synbuf, shn) : Py_NewRef(Py_None);
                uint32_t key32 = 0;
                if (sh) {
                    key32 = 2166136261u ^ (ack ? 0x80000000u : 0);
                    for (Py_ssize_t i = 0; i < shn; i++) key32 = (key32 ^ synbuf[i]) * 16777619u;
                    key32 |= 1;
                }
                PyObject *ev = synobj ? record(R_FIRST_FRAME, "(iNs#iNik)", (int)k->vlan, ip_obj(ip, v6), mac,
                                               (Py_ssize_t)17, (int)ttl, synobj, ack ? 1 : 0,
                                               (unsigned long)key32) : NULL;
                if (!ev || light_event(events, EV_LIGHT_FIRST, d, ts, frame, ev) < 0) return -1;
            }
        }
    }
    L->pk[d]++;
    L->by[d] += incl;
    if (plen > 0) L->pl[d] += plen;
    (void)l3;
    if (L->peek[d] > 0) return light_peek(t, events, idx, L, d, f + p0, plen, syn, seq, ts, frame);
    return 0;
}

/*
 * The peek of a light flow: TCP payload in sequence (a SYN sets the next expected number; the first data without
 * a handshake is taken as it comes; a retransmission is skipped; a gap ends that direction's peek, the bytes are
 * lost to it) or a datagram, handed to Python whole while the direction's budget lasts.
 */
/* ---- peek memos (see Memo) ---- */
static uint64_t memo_hash(const Key *k) { return mix((const uint8_t *)k, sizeof *k); }

static void memo_key(const LightRec *L, Key *k) { *k = L->key; k->sport = 0; }

static void memo_release(Table *t, LightRec *L) {
    if (L->mstate == 2) {
        Memo *m = &t->memos[L->memo_i];
        if (m->used && m->serial == L->mserial && m->refs) m->refs--;
        L->mstate = 1;
    }
}

static void memo_begin(Table *t, LightRec *L) {
    L->mstate = 1;
    Key k;
    memo_key(L, &k);
    uint64_t h = memo_hash(&k);
    for (int p = 0; p < MEMO_PROBE; p++) {
        int32_t i = (int32_t)((h + (uint64_t)p) & (MEMO_CAP - 1));
        Memo *m = &t->memos[i];
        if (m->used && memcmp(&m->key, &k, sizeof k) == 0) {
            L->mstate = 2; L->mlev = 0; L->memo_i = (int16_t)i; L->mserial = m->serial; m->refs++;
            return;
        }
    }
}

static int name_is(const uint8_t *p, Py_ssize_t n, const char *name, int len) {
    if (n != len) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z') c = (uint8_t)(c + 32);
        if (c != (uint8_t)name[i]) return 0;
    }
    return 1;
}

static const uint8_t *find2(const uint8_t *d, Py_ssize_t n, const char *pat, Py_ssize_t k) {
    return n >= k ? memmem(d, (size_t)n, pat, (size_t)k) : NULL;
}

/* the first case-insensitive (ASCII) occurrence of the lower-case pat in d[0:n], -1 if none */
static Py_ssize_t find_ci(const uint8_t *d, Py_ssize_t n, const char *pat, Py_ssize_t k) {
    for (Py_ssize_t i = 0; i + k <= n; i++) {
        Py_ssize_t j = 0;
        for (; j < k; j++) {
            uint8_t c = d[i + j];
            if (c >= 'A' && c <= 'Z') c = (uint8_t)(c + 32);
            if (c != (uint8_t)pat[j]) break;
        }
        if (j == k) return i;
    }
    return -1;
}

/* how much of a body window the element search depends on (see TextSpec): up to the end of the first match
   when the first open starts it, else all of it */
static Py_ssize_t element_extent(const TextSpec *s, const uint8_t *w, Py_ssize_t n) {
    if (!s->openlen) return n;
    Py_ssize_t p = find_ci(w, n, s->open, s->openlen);
    if (p < 0) return n;
    Py_ssize_t a = p + s->openlen, lim = a + s->attrs + 1 < n ? a + s->attrs + 1 : n;
    const uint8_t *gt = memchr(w + a, '>', (size_t)(lim > a ? lim - a : 0));
    if (!gt) return n;
    Py_ssize_t g = gt - w + 1, clim = g + s->content + s->closelen < n ? g + s->content + s->closelen : n;
    Py_ssize_t c = find_ci(w + g, clim - g, s->close, s->closelen);
    return c < 0 ? n : g + c + s->closelen;
}

/* the normal form of a text head (see TextSpec) into out (cap bytes): its length, -1 if it has none */
static Py_ssize_t text_norm(const TextSpec *s, int side, const uint8_t *d, Py_ssize_t n, uint8_t *out,
                            Py_ssize_t cap) {
    Py_ssize_t lim = n < s->max_head ? n : s->max_head, end;
    const uint8_t *a = find2(d, lim, "\r\n\r\n", 4), *b = find2(d, lim, "\n\n", 2);   /* http grammar.head_end */
    if (!a && !b) return -1;
    end = (!b || (a && a < b)) ? (a - d) + 4 : (b - d) + 2;
    Py_ssize_t body = side ? (n - end < s->body_window ? n - end : s->body_window) : 0;
    Py_ssize_t o = 0;
#define PUT(src, len) do { if (o + (len) > cap) return -1; memcpy(out + o, (src), (size_t)(len)); o += (len); } while (0)
    for (Py_ssize_t p = 0, first = 1; p < end; first = 0) {
        const uint8_t *nl = memchr(d + p, '\n', (size_t)(end - p));
        Py_ssize_t q = nl ? nl - d : end, ln = q - p;
        const uint8_t *line = d + p;
        if (first && s->drop_target[side]) {
            const uint8_t *s1 = memchr(line, ' ', (size_t)ln);
            const uint8_t *s2 = s1 ? memchr(s1 + 1, ' ', (size_t)(line + ln - s1 - 1)) : NULL;
            if (!s2 || s2 == s1 + 1) return -1;
            PUT(line, s1 - line + 1);
            PUT(s2, line + ln - s2);
        } else if (!first) {
            const uint8_t *colon = memchr(line, ':', (size_t)ln);
            int keep = !colon;
            if (colon) {
                Py_ssize_t nn = colon - line;
                for (int k = 0; k < s->nkeep[side] && !keep; k++) keep = name_is(line, nn, s->keep[side][k], s->keeplen[side][k]);
                if (!keep && s->condlen && !body) keep = name_is(line, nn, s->cond, s->condlen);
            }
            if (keep) PUT(line, ln);
            else {
                int cr = ln && line[ln - 1] == '\r';
                if (memchr(colon + 1, '\r', (size_t)(line + ln - cr - colon - 1))) return -1;
                PUT(line, colon - line + 1);
                if (cr) PUT("\r", 1);
            }
        } else PUT(line, ln);
        PUT("\n", 1);
        p = q + 1;
    }
    if (body > 0) PUT(d + end, element_extent(s, d + end, body));
#undef PUT
    return o;
}

static int memo_matches(const Table *t, const Memo *m, int lev, int d, const uint8_t *data, Py_ssize_t plen) {
    if (lev >= m->nev || m->side[lev] != d) return 0;
    if (m->exact[lev] == MEMO_TEXT) {
        uint8_t norm[MEMO_BYTES];
        const TextSpec *s = &t->text[m->len[lev]];
        Py_ssize_t n = text_norm(s, d, data, plen, norm, MEMO_BYTES);
        return n >= 0 && m->nr[lev] == 1 && n == m->re[lev][0] && memcmp(norm, m->ref[lev], (size_t)n) == 0;
    }
    if (m->exact[lev] ? plen != m->len[lev] : plen < m->len[lev]) return 0;
    for (int r = 0; r < m->nr[lev]; r++)
        if (memcmp(data + m->rs[lev][r], m->ref[lev] + m->rs[lev][r], (size_t)(m->re[lev][r] - m->rs[lev][r])))
            return 0;
    return 1;
}

static long long memo_id(const Memo *m, int32_t i) { return ((long long)m->serial << 16) | i; }

/* 1: the event matched (counted here, nothing for Python), 0: hand it over (after a MemoPrefix event when
   earlier events had matched), -1: error */
static int memo_step(Table *t, PyObject *events, int32_t idx, LightRec *L, int d, const uint8_t *data,
                     Py_ssize_t plen, double ts, long long frame, int64_t seq) {
    Memo *m = &t->memos[L->memo_i];
    int lev = L->mlev;
    if (m->used && m->serial == L->mserial && memo_matches(t, m, lev, d, data, plen)) {
        if (!m->hits[lev]++) { m->first_frame[lev] = frame; m->first_ts[lev] = ts; }
        if (ts > m->last_ts[lev] || m->hits[lev] == 1) m->last_ts[lev] = ts;
        L->mframe[lev] = frame; L->mts[lev] = ts; L->mlev++;
        t->memo_events++;
        if (L->mlev == m->nev) {                        /* the whole memo: its facts, its label, the peek ends */
            if (m->label) L->label = m->label;
            L->peek[0] = L->peek[1] = 0;
            memo_release(t, L);
            L->mstate = 3;
            t->memo_hits++;
        }
        return 1;
    }
    long long id = memo_id(m, L->memo_i);
    memo_release(t, L);
    if (!lev) return 0;
    PyObject *frames = PyTuple_New(lev), *times = PyTuple_New(lev);
    if (!frames || !times) { Py_XDECREF(frames); Py_XDECREF(times); return -1; }
    for (int j = 0; j < lev; j++) {
        PyObject *f = PyLong_FromLongLong(L->mframe[j]), *x = PyFloat_FromDouble(L->mts[j]);
        if (!f || !x) { Py_XDECREF(f); Py_XDECREF(x); Py_DECREF(frames); Py_DECREF(times); return -1; }
        PyTuple_SET_ITEM(frames, j, f); PyTuple_SET_ITEM(times, j, x);
    }
    int v6 = L->key.ver == 6;
    PyObject *rec = record(R_MEMO_PREFIX, "(iLiNiNiiLNN)", (int)idx, (long long)L->seq, (int)L->key.vlan,
                           ip_obj(L->key.src, v6), (int)L->key.sport, ip_obj(L->key.dst, v6), (int)L->key.dport,
                           (int)L->key.proto, id, frames, times);
    return rec && event(events, EV_LIGHT_MEMO, -1, d, L->mts[0], L->mframe[0], rec, seq) == 0 ? 0 : -1;
}

static int light_peek(Table *t, PyObject *events, int32_t idx, LightRec *L, int d, const uint8_t *data,
                      Py_ssize_t plen, int syn, int64_t seq, double ts, long long frame) {
    if (seq >= 0) {
        uint32_t s32 = (uint32_t)seq;
        if (syn) { L->nseq[d] = s32 + 1; L->nseq_ok[d] = 1; return 0; }
        if (plen <= 0) return 0;
        if (L->nseq_ok[d] && s32 != L->nseq[d]) {
            if ((int32_t)(s32 - L->nseq[d]) < 0) return 0;           /* old data again */
            L->peek[d] = 0;                                          /* a gap: the peek of this side ends */
            return 0;
        }
        L->nseq[d] = s32 + (uint32_t)plen; L->nseq_ok[d] = 1;
    } else if (plen <= 0) return 0;
    L->peek[d] -= (int32_t)(plen > 0x7FFFFFFF ? 0x7FFFFFFF : plen);
    if (t->memo_n && L->mstate == 0) memo_begin(t, L);
    if (L->mstate == 2) {
        int r = memo_step(t, events, idx, L, d, data, plen, ts, frame, seq);
        if (r) return r < 0 ? -1 : 0;
    }
    int last = L->peek[0] <= 0 && L->peek[1] <= 0;
    int v6 = L->key.ver == 6;
    PyObject *rec = record(R_PEEK, "(iLiNiNiiy#i)", (int)idx, (long long)L->seq, (int)L->key.vlan, ip_obj(L->key.src, v6),
                           (int)L->key.sport, ip_obj(L->key.dst, v6), (int)L->key.dport, (int)L->key.proto,
                           (const char *)data, plen, last);
    return rec && event(events, EV_LIGHT_PEEK, -1, d, ts, frame, rec, seq) == 0 ? 1 : -1;
}

/* a memo's matched events since the last memo_collect() into out (as MemoStats), then reset */
static int memo_stats(Memo *m, int32_t i, PyObject *out) {
    for (int j = 0; j < m->nev; j++) {
        if (!m->hits[j]) continue;
        PyObject *r = record(R_MEMO_STATS, "(LiLLdd)", memo_id(m, i), j, (long long)m->hits[j],
                             m->first_frame[j], m->first_ts[j], m->last_ts[j]);
        if (!r || PyList_Append(out, r) < 0) { Py_XDECREF(r); return -1; }
        Py_DECREF(r);
        m->hits[j] = 0;
    }
    return 0;
}

/*
 * memo_put(index, seq, label, events) -> (memo id, replaced memo id or -1, [MemoStats] of the replaced one not
 * collected yet), or None when refused (the flow is
 * gone, too many events, or every candidate slot has flows being compared with it). events: a list of
 * (side, exact, length, bytes, ((start, end), ...)): an exact event must have that length, another at least it;
 * the ranges (within bytes) must be equal.
 */
static void memo_clear(Memo *m) {
    for (int j = 0; j < MEMO_EVENTS; j++) { PyMem_Free(m->ref[j]); m->ref[j] = NULL; }
    memset(m, 0, sizeof *m);
}

static PyObject *t_memo_put(Table *t, PyObject *args) {
    int idx, label;
    long long seq;
    PyObject *evs;
    if (!PyArg_ParseTuple(args, "iLiO!", &idx, &seq, &label, &PyList_Type, &evs)) return NULL;
    if (idx < 0 || idx >= t->lcap || !t->light[idx].used || t->light[idx].seq != seq) Py_RETURN_NONE;
    Py_ssize_t nev = PyList_GET_SIZE(evs);
    if (nev < 1 || nev > MEMO_EVENTS || label < 0 || label > 255) Py_RETURN_NONE;
    Memo nm;
    memset(&nm, 0, sizeof nm);
    memo_key(&t->light[idx], &nm.key);
    nm.used = 1; nm.nev = (uint8_t)nev; nm.label = (uint8_t)label;
    for (Py_ssize_t j = 0; j < nev; j++) {
        int side, exact, len;
        Py_buffer b;
        PyObject *ranges;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(evs, j), "iiiy*O!", &side, &exact, &len, &b, &PyTuple_Type, &ranges)) {
            memo_clear(&nm); return NULL;
        }
        Py_ssize_t nr = PyTuple_GET_SIZE(ranges);
        int text = exact == MEMO_TEXT;
        int ok = (side == 0 || side == 1) && len >= 0 && b.len <= MEMO_BYTES && nr <= MEMO_RANGES &&
                 (text ? len < TEXT_SPECS && t->text[len].used && nr == 1 : b.len <= len && exact >= 0 && exact <= 1);
        nm.side[j] = (uint8_t)side; nm.exact[j] = (uint8_t)(ok ? exact : 0); nm.len[j] = len; nm.nr[j] = (uint8_t)nr;
        for (Py_ssize_t r = 0; ok && r < nr; r++) {
            int a, e;
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM(ranges, r), "ii", &a, &e)) { PyBuffer_Release(&b); memo_clear(&nm); return NULL; }
            ok = 0 <= a && a < e && e <= b.len;
            nm.rs[j][r] = a; nm.re[j][r] = e;
        }
        if (ok && b.len) {
            nm.ref[j] = PyMem_Malloc((size_t)b.len);
            if (!nm.ref[j]) { PyBuffer_Release(&b); memo_clear(&nm); return PyErr_NoMemory(); }
            memcpy(nm.ref[j], b.buf, (size_t)b.len);
        }
        PyBuffer_Release(&b);
        if (!ok) { memo_clear(&nm); PyErr_SetString(PyExc_ValueError, "memo event out of bounds"); return NULL; }
    }
    if (!t->memos) {
        t->memos = PyMem_Calloc(MEMO_CAP, sizeof(Memo));
        if (!t->memos) { memo_clear(&nm); return PyErr_NoMemory(); }
    }
    uint64_t h = memo_hash(&nm.key);
    int32_t at = -1;
    for (int p = 0; p < MEMO_PROBE && at < 0; p++) {        /* the same conversation's memo, else a free slot */
        int32_t i = (int32_t)((h + (uint64_t)p) & (MEMO_CAP - 1));
        Memo *m = &t->memos[i];
        if (!m->used || memcmp(&m->key, &nm.key, sizeof nm.key) == 0) at = i;
    }
    for (int p = 0; p < MEMO_PROBE && at < 0; p++) {        /* else one no flow is being compared with */
        int32_t i = (int32_t)((h + (uint64_t)p) & (MEMO_CAP - 1));
        if (!t->memos[i].refs) at = i;
    }
    if (at < 0 || t->memos[at].refs) { memo_clear(&nm); Py_RETURN_NONE; }
    Memo *m = &t->memos[at];
    long long replaced = m->used ? memo_id(m, at) : -1;
    PyObject *pending = PyList_New(0);
    if (!pending || (m->used && memo_stats(m, at, pending) < 0)) { Py_XDECREF(pending); memo_clear(&nm); return NULL; }
    if (m->used) memo_clear(m); else t->memo_n++;
    nm.serial = ++t->memo_serial;
    *m = nm;
    return Py_BuildValue("(LLN)", memo_id(m, at), replaced, pending);
}

/* memo_collect() -> [MemoStats]: the memo events matched since the last call (then reset) */
static PyObject *t_memo_collect(Table *t, PyObject *noargs) {
    PyObject *out = PyList_New(0);
    if (!out || !t->memos) return out;
    for (int32_t i = 0; i < MEMO_CAP; i++)
        if (t->memos[i].used && memo_stats(&t->memos[i], i, out) < 0) { Py_DECREF(out); return NULL; }
    return out;
}

/* memo_text_config(index, max_head, body_window, drop_target (client, server), keep names (client, server),
   conditional name): a TextSpec (see there) */
static PyObject *t_memo_text_config(Table *t, PyObject *args) {
    int i, max_head, window, dt0, dt1;
    PyObject *k0, *k1;
    const char *cond, *open, *close;
    Py_ssize_t condlen, openlen, closelen;
    int attrs, content;
    if (!PyArg_ParseTuple(args, "iii(pp)(O!O!)s#(s#s#ii)", &i, &max_head, &window, &dt0, &dt1, &PyTuple_Type, &k0,
                          &PyTuple_Type, &k1, &cond, &condlen, &open, &openlen, &close, &closelen, &attrs, &content))
        return NULL;
    if (i < 0 || i >= TEXT_SPECS || max_head <= 0 || window < 0 || condlen > 31 || openlen > 15 || closelen > 15 ||
        (openlen && !closelen) || attrs < 0 || content < 0 ||
        PyTuple_GET_SIZE(k0) > TEXT_KEEP || PyTuple_GET_SIZE(k1) > TEXT_KEEP) {
        PyErr_SetString(PyExc_ValueError, "text spec out of bounds"); return NULL;
    }
    TextSpec s;
    memset(&s, 0, sizeof s);
    s.used = 1; s.max_head = max_head; s.body_window = window; s.drop_target[0] = dt0; s.drop_target[1] = dt1;
    PyObject *keeps[2] = {k0, k1};
    for (int side = 0; side < 2; side++) {
        s.nkeep[side] = (int)PyTuple_GET_SIZE(keeps[side]);
        for (int k = 0; k < s.nkeep[side]; k++) {
            Py_ssize_t n;
            const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(keeps[side], k), &n);
            if (!name) return NULL;
            if (n > 31) { PyErr_SetString(PyExc_ValueError, "name too long"); return NULL; }
            memcpy(s.keep[side][k], name, (size_t)n); s.keeplen[side][k] = (uint8_t)n;
        }
    }
    memcpy(s.cond, cond, (size_t)condlen); s.condlen = (uint8_t)condlen;
    memcpy(s.open, open, (size_t)openlen); s.openlen = (uint8_t)openlen;
    memcpy(s.close, close, (size_t)closelen); s.closelen = (uint8_t)closelen;
    s.attrs = attrs; s.content = content;
    t->text[i] = s;
    Py_RETURN_NONE;
}

/* text_norm(index, side, data) -> the normal form of a text head (bytes), None if it has none */
static PyObject *t_text_norm(Table *t, PyObject *args) {
    int i, side;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "iiy*", &i, &side, &b)) return NULL;
    if (i < 0 || i >= TEXT_SPECS || !t->text[i].used || (side != 0 && side != 1)) {
        PyBuffer_Release(&b); PyErr_SetString(PyExc_ValueError, "no such text spec"); return NULL;
    }
    uint8_t norm[MEMO_BYTES];
    Py_ssize_t n = text_norm(&t->text[i], side, b.buf, b.len, norm, MEMO_BYTES);
    PyBuffer_Release(&b);
    if (n < 0) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)norm, n);
}

/* memo_counts() -> (flows matched whole, events matched) */
static PyObject *t_memo_counts(Table *t, PyObject *noargs) {
    return Py_BuildValue("(LL)", t->memo_hits, t->memo_events);
}

/* peek_config(tcp classes (65536 bytes: port -> class), udp classes, budgets (list: class -> bytes)) */
static PyObject *t_peek_config(Table *t, PyObject *args) {
    Py_buffer tc, uc;
    PyObject *budgets;
    if (!PyArg_ParseTuple(args, "y*y*O!", &tc, &uc, &PyList_Type, &budgets)) return NULL;
    int ok = tc.len == 65536 && uc.len == 65536 && PyList_GET_SIZE(budgets) <= 256;
    if (ok) {
        memcpy(t->peekport[0], tc.buf, 65536); memcpy(t->peekport[1], uc.buf, 65536);
        memset(t->peek_budget, 0, sizeof t->peek_budget);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(budgets); i++) {
            long v = PyLong_AsLong(PyList_GET_ITEM(budgets, i));
            if (v == -1 && PyErr_Occurred()) { PyBuffer_Release(&tc); PyBuffer_Release(&uc); return NULL; }
            t->peek_budget[i] = v < 0 ? 0 : v > 0x7FFFFFFF ? 0x7FFFFFFF : (int32_t)v;
        }
    }
    PyBuffer_Release(&tc); PyBuffer_Release(&uc);
    if (!ok) { PyErr_SetString(PyExc_ValueError, "two 65536-byte class maps and at most 256 budgets"); return NULL; }
    Py_RETURN_NONE;
}

/* peek_set(index, seq, label, stop): the light flow (if it is still that one) carries this protocol label (0:
   keep), and with stop its peek ends (the dissector is done, gave up or was dropped) */
static PyObject *t_peek_set(Table *t, PyObject *args) {
    int idx, label, stop;
    long long seq;
    if (!PyArg_ParseTuple(args, "iLip", &idx, &seq, &label, &stop)) return NULL;
    if (idx < 0 || idx >= t->lcap || !t->light[idx].used || t->light[idx].seq != seq) Py_RETURN_FALSE;
    LightRec *L = &t->light[idx];
    if (label > 0 && label < 256) L->label = (uint8_t)label;
    if (stop) L->peek[0] = L->peek[1] = 0;
    Py_RETURN_TRUE;
}

/* light_config(max_flows, tcp ports, udp ports, server ports (8192-byte bitmaps), initial TTLs (32 bytes)) */
static PyObject *t_light_config(Table *t, PyObject *args) {
    Py_ssize_t max_flows;
    Py_buffer tp, up, sp, it;
    if (!PyArg_ParseTuple(args, "ny*y*y*y*", &max_flows, &tp, &up, &sp, &it)) return NULL;
    int ok = tp.len == 8192 && up.len == 8192 && sp.len == 8192 && it.len == 32 && max_flows > 0;
    if (ok) {
        memcpy(t->pyports[0], tp.buf, 8192); memcpy(t->pyports[1], up.buf, 8192); memcpy(t->srvports, sp.buf, 8192);
        memcpy(t->initial_ttl, it.buf, 32);
        t->max_flows = max_flows;
        t->light_on = 1;
    }
    PyBuffer_Release(&tp); PyBuffer_Release(&up); PyBuffer_Release(&sp); PyBuffer_Release(&it);
    if (!ok) { PyErr_SetString(PyExc_ValueError, "bitmaps of 8192 (ports) and 32 (TTLs) bytes, max_flows > 0"); return NULL; }
    Py_RETURN_NONE;
}

/* expire_light(now, tcp, udp, closed) -> (flows expired, Expired(expired, [LightTotals the sums had no room for])) */
static PyObject *t_expire_light(Table *t, PyObject *args) {
    double now, tcp_to, udp_to, closed_to;
    if (!PyArg_ParseTuple(args, "dddd", &now, &tcp_to, &udp_to, &closed_to)) return NULL;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    Py_ssize_t n = 0;
    for (int32_t i = t->lhead; i >= 0;) {
        LightRec *L = &t->light[i];
        int32_t nxt = L->next;
        double limit = timeout_of(L->fin, L->key.proto, tcp_to, udp_to, closed_to);
        if (now - L->last > limit) {
            if (fold_or_emit(t, L, out, NULL, 0.0, 0) < 0) { Py_DECREF(out); return NULL; }
            light_unlink(t, i);
            n++;
        }
        i = nxt;
    }
    return record(R_EXPIRED, "(nN)", n, out);
}

/* fold_light() -> [LightTotals]: what light flows have new since the last call, summed per conversation
   (the live ones are folded now); a new snapshot starts (first-frame news is sent again) */
static PyObject *t_fold_light(Table *t, PyObject *noargs) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (int32_t i = t->lhead; i >= 0; i = t->light[i].next) {
        if (fold_or_emit(t, &t->light[i], out, NULL, 0.0, 0) < 0) { Py_DECREF(out); return NULL; }
    }
    AggTable *at = t->agg;
    for (Py_ssize_t j = 0; at && j < at->cap; j++) {
        Agg *a = &at->slots[j];
        if (!a->used) continue;
        int v6 = a->ver == 6;
        PyObject *r = record(R_LIGHT_TOTALS, "(iNNiiLLdddi)", (int)a->vlan, ip_obj(a->cip, v6), ip_obj(a->sip, v6), (int)a->proto,
                                    (int)a->sport, (long long)a->pk, (long long)a->by, a->first, a->last, a->hlast,
                                    (int)a->label);
        if (!r || PyList_Append(out, r) < 0) { Py_XDECREF(r); Py_DECREF(out); return NULL; }
        Py_DECREF(r);
    }
    if (at && at->n) { memset(at->slots, 0, (size_t)at->cap * sizeof(Agg)); at->n = 0; }
    seen_clear(t->firsts);
    return out;
}

/* first_times() -> [(vlan, ip, ttl, hint, last)]: the last time of each first-frame kind reported since the last
   fold_light() (call it before that: fold_light starts a new snapshot), so Python can move its OS hint's last seen
   to the last such frame as the Python loop, which looks at every one, does */
static PyObject *t_first_times(Table *t, PyObject *noargs) {
    PyObject *out = PyList_New(0);
    SeenSet *ss = t->firsts;
    if (!out || !ss) return out;
    for (Py_ssize_t j = 0; j < ss->cap; j++) {
        Seen *e = &ss->slots[j];
        if (!e->used) continue;
        uint32_t hint;
        memcpy(&hint, e->pad2, 4);
        PyObject *r = Py_BuildValue("(iNikd)", (int)e->vlan, ip_obj(e->ip, e->ver == 6), (int)e->pad, (unsigned long)hint,
                                    ss->tl[j]);
        if (!r || PyList_Append(out, r) < 0) { Py_XDECREF(r); Py_DECREF(out); return NULL; }
        Py_DECREF(r);
    }
    return out;
}

/* oldest_light() -> creation number of the oldest live light flow, -1 if none */
static PyObject *t_oldest_light(Table *t, PyObject *noargs) {
    return PyLong_FromLongLong(t->lhead >= 0 ? (long long)t->light[t->lhead].seq : -1LL);
}

/* evict_light() -> LightTotals of the oldest light flow, which is removed (None if none) */
static PyObject *t_evict_light(Table *t, PyObject *noargs) {
    if (t->lhead < 0) Py_RETURN_NONE;
    int32_t i = t->lhead;
    PyObject *r = light_fold(&t->light[i]);
    if (r) light_unlink(t, i);
    return r;
}

/* hosts_full(): Python's host table is full; from now on every new light flow's host ends are reported */
/*
 * Watched layer-2 frames (PROFINET cyclic I/O: dissectors/pnio/rt.py): frequent frames whose facts only change
 * when a status byte does. Python watches a (VLAN, ethertype, 16-bit id after the ethertype, destination +
 * source MAC) once it has seen such a frame; from then on a frame with that key and the same byte at its
 * end - 2 (the PN-RT DataStatus) is counted here, with its time and the smallest step of the 16-bit counter
 * at its end - 4 (the PN-RT CycleCounter); any other goes to Python as before. l2_drain() hands the counts
 * over. Full keys, linear probing, never more than L2W_MAX entries (then Python simply keeps them).
 */
typedef struct L2Watch {
    uint8_t used, status;
    uint16_t vlan, et, id, cycle, step;
    uint8_t macs[12];
    long long count;
    double last;
} L2Watch;
#define L2W_MAX 4096

static L2Watch *l2w_find(Table *t, uint16_t vlan, uint16_t et, uint16_t id, const uint8_t *macs, int insert) {
    if (!t->l2w) {
        if (!insert) return NULL;
        t->l2w_cap = 2 * L2W_MAX;
        t->l2w = PyMem_Calloc((size_t)t->l2w_cap, sizeof(L2Watch));
        if (!t->l2w) { t->l2w_cap = 0; return NULL; }
    }
    uint64_t h = 1469598103934665603ULL;
    h = (h ^ vlan) * 1099511628211ULL;
    h = (h ^ et) * 1099511628211ULL;
    h = (h ^ id) * 1099511628211ULL;
    for (int i = 0; i < 12; i++) h = (h ^ macs[i]) * 1099511628211ULL;
    Py_ssize_t mask = t->l2w_cap - 1;
    for (Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)mask), n = 0; n < t->l2w_cap; i = (i + 1) & mask, n++) {
        L2Watch *w = &t->l2w[i];
        if (!w->used) {
            if (!insert || t->l2w_n >= L2W_MAX) return NULL;
            w->used = 1; w->vlan = vlan; w->et = et; w->id = id;
            memcpy(w->macs, macs, 12);
            t->l2w_n++;
            return w;
        }
        if (w->vlan == vlan && w->et == et && w->id == id && !memcmp(w->macs, macs, 12)) return w;
    }
    return NULL;
}

/*
 * Expected UDP ends: a server that answers from another port than the one it was asked on (a PROFINET IO
 * device answers a PNIO-CM request to udp/34964 from an ephemeral port) makes a new flow whose ports no
 * dissector claims. Python expects (vlan, client address, client port) when it creates the request's flow
 * (agent/flowtable.py); a new UDP flow with such an end is then never a light flow: it goes to Python, which
 * gives it the dissector. Full keys (destination half of a Key), linear probing; when full it is emptied
 * (an expectation lost only means the answer's flow stays undecoded, as without them).
 */
#define EXP_MAX 4096

static Py_ssize_t exp_slot(const Table *t, const Key *k) {
    const uint8_t *b = (const uint8_t *)k;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ b[i]) * 1099511628211ULL;
    Py_ssize_t mask = t->exp_cap - 1, i = (Py_ssize_t)(h & (uint64_t)mask);
    static const Key zero;
    while (memcmp(&t->exp[i], &zero, sizeof zero) && memcmp(&t->exp[i], k, sizeof *k)) i = (i + 1) & mask;
    return i;
}

static int expected(const Table *t, const Key *k, int src) {
    Key e;
    memset(&e, 0, sizeof e);
    e.ver = k->ver; e.proto = k->proto; e.vlan = k->vlan;
    memcpy(e.dst, src ? k->src : k->dst, 16);
    e.dport = src ? k->sport : k->dport;
    return !memcmp(&t->exp[exp_slot(t, &e)], &e, sizeof e);
}

/* expect(vlan, address, port, on): a UDP end whose new flows go to Python (on=0: forget it) */
static PyObject *t_expect(Table *t, PyObject *args) {
    int vlan, port, on;
    PyObject *ip;
    if (!PyArg_ParseTuple(args, "iOip", &vlan, &ip, &port, &on)) return NULL;
    Key e;
    memset(&e, 0, sizeof e);
    if (key_from(ip, &e, 0) < 0) return NULL;
    e.proto = 17; e.vlan = (uint16_t)vlan; e.dport = (uint16_t)port;
    if (!t->exp) {
        if (!on) Py_RETURN_NONE;
        t->exp_cap = 2 * EXP_MAX;
        if (!(t->exp = PyMem_Calloc((size_t)t->exp_cap, sizeof(Key)))) { t->exp_cap = 0; return PyErr_NoMemory(); }
    }
    if (!on) {
        /* forget: rebuild without it (rare: once per expected answer) */
        Key *old = t->exp;
        Py_ssize_t n = t->exp_cap;
        if (!(t->exp = PyMem_Calloc((size_t)n, sizeof(Key)))) { t->exp = old; return PyErr_NoMemory(); }
        t->exp_n = 0;
        static const Key zero;
        for (Py_ssize_t i = 0; i < n; i++)
            if (memcmp(&old[i], &zero, sizeof zero) && memcmp(&old[i], &e, sizeof e)) {
                t->exp[exp_slot(t, &old[i])] = old[i];
                t->exp_n++;
            }
        PyMem_Free(old);
        Py_RETURN_NONE;
    }
    if (t->exp_n >= EXP_MAX) { memset(t->exp, 0, (size_t)t->exp_cap * sizeof(Key)); t->exp_n = 0; }
    Py_ssize_t i = exp_slot(t, &e);
    if (memcmp(&t->exp[i], &e, sizeof e)) { t->exp[i] = e; t->exp_n++; }
    Py_RETURN_NONE;
}

/* l2_watch(vlan, ethertype, id, macs(12 bytes: destination + source), status, counter): count such frames here */
static PyObject *t_l2_watch(Table *t, PyObject *args) {
    int vlan, et, id, status, counter;
    Py_buffer macs;
    if (!PyArg_ParseTuple(args, "iiiy*ii", &vlan, &et, &id, &macs, &status, &counter)) return NULL;
    if (macs.len != 12) { PyBuffer_Release(&macs); PyErr_SetString(PyExc_ValueError, "macs: 12 bytes"); return NULL; }
    L2Watch *w = l2w_find(t, (uint16_t)vlan, (uint16_t)et, (uint16_t)id, macs.buf, 1);
    PyBuffer_Release(&macs);
    if (w) { w->status = (uint8_t)status; w->cycle = (uint16_t)counter; }
    return PyBool_FromLong(w != NULL);
}

/* l2_drain() -> [(vlan, ethertype, id, macs, frames, last time, counter, smallest counter step)] counted since */
static PyObject *t_l2_drain(Table *t, PyObject *noargs) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < t->l2w_cap; i++) {
        L2Watch *w = &t->l2w[i];
        if (!w->used || !w->count) continue;
        PyObject *r = Py_BuildValue("(iiiy#Ldii)", (int)w->vlan, (int)w->et, (int)w->id, (const char *)w->macs,
                                    (Py_ssize_t)12, w->count, w->last, (int)w->cycle, (int)w->step);
        if (!r || PyList_Append(out, r) < 0) { Py_XDECREF(r); Py_DECREF(out); return NULL; }
        Py_DECREF(r);
        w->count = 0;
    }
    return out;
}

static PyObject *t_hosts_full(Table *t, PyObject *noargs) {
    t->hosts_full = 1;
    Py_RETURN_NONE;
}

/* table_size() -> (slots, slots in use or tombstones): the flow table's footprint */
static PyObject *t_table_size(Table *t, PyObject *noargs) {
    return Py_BuildValue("(nn)", t->cap, t->fill);
}

/* light_count() -> (live light flows, light flows created so far) */
static PyObject *t_light_count(Table *t, PyObject *noargs) {
    return record(R_LIGHT_COUNT, "(nL)", t->nlight, t->light_created);
}

/*
 * adopt(proto, vlan, src, sport, dst, dport) -> None, or the light flow of that key, removed here, as an Adopted
 * record (its ends, times, counters, FIN bits, seen sides, what was folded, creation number) so Python can go on
 * with it as an ordinary flow.
 */
static PyObject *t_adopt(Table *t, PyObject *args) {
    int proto, vlan, sp, dp;
    PyObject *src, *dst;
    if (!PyArg_ParseTuple(args, "iiOiOi", &proto, &vlan, &src, &sp, &dst, &dp)) return NULL;
    if (!t->nlight) Py_RETURN_NONE;
    Key a, b;
    if (both_keys(&a, &b, proto, vlan, src, sp, dst, dp) < 0) return NULL;
    Slot *s = find(t, &a, 0);
    if (!s || !(s->flow & LIGHT_BIT)) Py_RETURN_NONE;
    int32_t i = s->flow & ~LIGHT_BIT;
    LightRec *L = &t->light[i];
    int v6 = L->key.ver == 6;
    PyObject *r = record(R_ADOPTED, "(NiNiddLLLLLLLLiiiLLL)", ip_obj(L->key.src, v6), (int)L->key.sport,
                                ip_obj(L->key.dst, v6), (int)L->key.dport, L->first, L->last,
                                (long long)L->pk[0], (long long)L->pk[1], (long long)L->by[0], (long long)L->by[1],
                                (long long)L->pl[0], (long long)L->pl[1], (long long)L->dk[0], (long long)L->dk[1],
                                (int)L->fin, (int)L->seen[0], (int)L->seen[1], (long long)L->rep_pk,
                                (long long)L->rep_by, (long long)L->seq);
    if (r) light_unlink(t, i);
    return r;
}

/*
 * Payload for a flow with a dissector. In-order TCP data (and every UDP datagram) is fed to the dissector
 * right here; Python is told only when there is something to drain (a status other than OK, facts or
 * anomalies) or the dissector raised. Anything else (first data without a handshake, out-of-order data,
 * a flow whose out-of-order buffer is in use) goes to Python as a payload event, in capture order.
 */
static int deliver_one(const Table *t, PyObject *events, int flow, FlowRec *fr, int d, double ts, long long frame,
                       const uint8_t *data, Py_ssize_t plen, int64_t seq) {
    if (fr->mode == MODE_EVENTS) {
        PyObject *payload = PyBytes_FromStringAndSize((const char *)data, plen);
        return payload ? event(events, seq < 0 ? EV_UDP : EV_PAYLOAD, flow, d, ts, frame, payload, seq) : -1;
    }
    if (seq >= 0) {
        PyObject *cur = PyList_GET_ITEM(fr->nseq, d);
        if (cur == Py_None || PyLong_AsUnsignedLong(cur) != (unsigned long)seq) {
            if (PyErr_Occurred()) PyErr_Clear();
            PyObject *payload = PyBytes_FromStringAndSize((const char *)data, plen);
            return payload ? event(events, EV_PAYLOAD, flow, d, ts, frame, payload, seq) : -1;
        }
        PyObject *next = PyLong_FromUnsignedLong((unsigned long)((seq + plen) & 0xFFFFFFFF));
        if (!next) return -1;
        if (PyList_SetItem(fr->nseq, d, next) < 0) return -1;
    }
    /* a frame a spec recognises is counted without a Python object being made for it */
    if ((fr->spec[0] >= 0 || fr->spec[1] >= 0) && spec_count(t, fr, d, data, plen)) return 0;
    PyObject *payload = PyBytes_FromStringAndSize((const char *)data, plen);
    if (!payload) return -1;
    PyObject *side = PyLong_FromLong(d), *pts = PyFloat_FromDouble(ts), *pfr = PyLong_FromLongLong(frame);
    if (!side || !pts || !pfr) { Py_XDECREF(side); Py_XDECREF(pts); Py_XDECREF(pfr); Py_DECREF(payload); return -1; }
    PyObject *argv[4] = {payload, side, pts, pfr};
    PyObject *res = PyObject_Vectorcall(fr->feed, argv, 4, NULL);
    Py_DECREF(payload); Py_DECREF(side); Py_DECREF(pts); Py_DECREF(pfr);
    if (!res) {
        /* a dissector bug: Python detaches it and counts it; the capture goes on */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *name = PyUnicode_FromString(type ? ((PyTypeObject *)type)->tp_name : "error");
        Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
        fr->mode = MODE_EVENTS;
        return event(events, EV_ERROR, flow, d, ts, frame, name, -1);
    }
    long status = PyLong_AsLong(res);
    Py_DECREF(res);
    if (status == -1 && PyErr_Occurred()) PyErr_Clear();
    if (status != 0 || PyList_GET_SIZE(fr->out) || PyList_GET_SIZE(fr->anom)) {
        if (status == 2 || status == 4) fr->mode = MODE_EVENTS;   /* FATAL/DONE: Python detaches it */
        PyObject *st = PyLong_FromLong(status);
        return event(events, EV_DRAIN, flow, d, ts, frame, st, -1);
    }
    return 0;
}

/* spend(peek budget) of side d: 0 the side's budget is spent (not handed over), 1 hand it over, 2 hand it over
   and both sides' budgets are now spent (the dissector is done with the flow). CFlowTable.spend is this rule for
   payload Python feeds itself; PyFlowTable.spend the same in Python. */
static int peek_spend(FlowRec *fr, int d, Py_ssize_t plen) {
    if (!fr->peek_on) return 1;
    if (fr->peek[d] <= 0) return 0;
    fr->peek[d] -= plen;
    return fr->peek[0] <= 0 && fr->peek[1] <= 0 ? 2 : 1;
}

/* Payload for a flow with a dissector, within its peek budget: when that payload spends the last of it, the
   dissector is told it is done (a DRAIN event with status DONE after the payload's own events; Python detaches
   it quietly, an earlier FATAL or DONE wins since the dissector is gone by then). */
static int deliver(const Table *t, PyObject *events, int flow, FlowRec *fr, int d, double ts, long long frame,
                   const uint8_t *data, Py_ssize_t plen, int64_t seq) {
    int spend = peek_spend(fr, d, plen);
    if (!spend) return 0;
    if (deliver_one(t, events, flow, fr, d, ts, frame, data, plen, seq) < 0) return -1;
    if (spend == 2) {
        fr->mode = MODE_EVENTS;                            /* nothing more is fed until Python detaches it */
        PyObject *st = PyLong_FromLong(4);
        return st ? event(events, EV_DRAIN, flow, d, ts, frame, st, -1) : -1;
    }
    return 0;
}

/* spend(flow, side, bytes) -> 0/1/2: the peek budget rule (peek_spend) for payload Python feeds itself */
static PyObject *t_spend(Table *t, PyObject *args) {
    int flow, side;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "iin", &flow, &side, &n)) return NULL;
    if (flow < 0 || flow >= t->nflows || (side != 0 && side != 1)) return PyLong_FromLong(1);
    return PyLong_FromLong(peek_spend(&t->flows[flow], side, n));
}

/*
 * scan(buf, pos, end, le, scale, frame, events) -> ScanResult(pos, frame, packets, bytes, dups, last)
 * Walks classic-pcap records of an Ethernet chunk from pos; feeds or hands back dissector payload; stops
 * (returning the position of that record) at the first record the fast path does not handle.
 * Appends Event records (kind, flow, side, ts, frame, payload, seq) to events, in capture order.
 */
static PyObject *t_scan(Table *t, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, end;
    int le;
    double scale;
    long long frame;
    PyObject *events;
    if (!PyArg_ParseTuple(args, "y*nnpdLO!", &view, &pos, &end, &le, &scale, &frame, &PyList_Type, &events))
        return NULL;
    const uint8_t *buf = view.buf;
    if (end > view.len) end = view.len;
    long long packets = 0, bytes = 0, dups = 0;
    double last_ts = 0.0;
    int peeked = 0;
    while (pos + 16 <= end) {
        const uint8_t *r = buf + pos;
        uint32_t sec = rd32(r, le), frac = rd32(r + 4, le), incl = rd32(r + 8, le);
        Py_ssize_t off = pos + 16, stop = off + (Py_ssize_t)incl;
        if (stop > end) break;
        const uint8_t *f = buf + off;
        if (incl < 14) break;
        uint16_t et = be16(f + 12);
        Py_ssize_t l3 = 14;
        uint16_t vlan = 0;
        int tags = 0;
        while ((et == 0x8100 || et == 0x88A8 || et == 0x9100) && tags < 4) {
            if (l3 + 4 > (Py_ssize_t)incl) goto slow;
            if (tags == 0) vlan = be16(f + l3) & 0x0FFF;
            et = be16(f + l3 + 2);
            l3 += 4; tags++;
        }
        Key k;
        memset(&k, 0, sizeof k);
        Py_ssize_t l4, iend;
        int64_t dk;
        uint8_t proto, ttl;
        if (et == 0x0800) {
            if (l3 + 20 > (Py_ssize_t)incl) goto slow;
            const uint8_t *ip = f + l3;
            int ihl = (ip[0] & 15) * 4;
            uint16_t tot = be16(ip + 2), fragw = be16(ip + 6);
            if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || (fragw & 0x3FFF)) goto slow;
            proto = ip[9];
            ttl = ip[8];
            if (proto != 6 && proto != 17) goto slow;
            k.ver = 4;
            memcpy(k.src, ip + 12, 4); memcpy(k.dst, ip + 16, 4);
            dk = (int64_t)be16(ip + 4) << 16 | be16(ip + 10);
            l4 = l3 + ihl;
            iend = l3 + tot;
        } else if (et == 0x86DD) {
            if (l3 + 40 > (Py_ssize_t)incl) goto slow;
            const uint8_t *ip = f + l3;
            if ((ip[0] >> 4) != 6) goto slow;
            proto = ip[6];
            ttl = ip[7];
            if (proto != 6 && proto != 17) goto slow;
            k.ver = 6;
            memcpy(k.src, ip + 8, 16); memcpy(k.dst, ip + 24, 16);
            dk = -1;
            l4 = l3 + 40;
            iend = l3 + 40 + be16(ip + 4);
        } else if (t->l2w_n && l3 + 6 <= (Py_ssize_t)incl) {
            L2Watch *w = l2w_find(t, vlan, et, be16(f + l3), f, 0);
            if (!w || f[incl - 2] != w->status) goto slow;
            uint16_t c = be16(f + incl - 4), step = (uint16_t)(c - w->cycle);
            if (step && (step < w->step || !w->step)) w->step = step;
            w->cycle = c;
            w->count++;
            w->last = last_ts = (double)sec + (double)frac * scale;
            frame++; packets++; bytes += incl;
            pos = stop;
            continue;
        } else goto slow;
        if (iend > (Py_ssize_t)incl) iend = (Py_ssize_t)incl;
        Py_ssize_t p0;
        int64_t seq = -1;
        int syn = 0;
        if (proto == 6) {
            if (l4 + 20 > iend) goto slow;
            const uint8_t *tcp = f + l4;
            syn = tcp[13] & 0x02;
            k.sport = be16(tcp); k.dport = be16(tcp + 2);
            seq = be32(tcp + 4);
            p0 = l4 + (tcp[12] >> 4) * 4;
        } else {
            if (l4 + 8 > iend) goto slow;
            k.sport = be16(f + l4); k.dport = be16(f + l4 + 2);
            p0 = l4 + 8;
            if ((k.sport == 67 || k.sport == 68) && (k.dport == 67 || k.dport == 68)) goto slow;   /* DHCP */
            if (k.dport == 4789 || k.dport == 37008) goto slow;   /* VXLAN, TZSP: decap.TUNNEL_UDP_PORTS */
        }
        k.proto = proto; k.vlan = vlan;
        if (t->shard_n > 1 && shard_of(&k, t->shard_n) != t->shard_k) {
            frame++; packets++; bytes += incl;                 /* another worker's conversation */
            pos = stop;
            continue;
        }
        Slot *s = find(t, &k, 0);
        double ts = (double)sec + (double)frac * scale;
        if (s ? (s->flow & LIGHT_BIT) != 0
              : t->light_on && !bit(t->pyports[proto == 17], k.sport) && !bit(t->pyports[proto == 17], k.dport) &&
                t->npy + t->nlight < t->max_flows &&
                !(t->exp_n && proto == 17 && (expected(t, &k, 0) || expected(t, &k, 1)))) {
            frame++;
            int lp = light_packet(t, events, s ? s->flow & ~LIGHT_BIT : -1, s ? s->side : 0, &k, f, l3, l4, ttl, incl,
                                  iend - p0, dk, ts, frame, &dups, p0, seq);
            if (lp < 0) {
                PyBuffer_Release(&view);
                return NULL;
            }
            last_ts = ts;
            packets++;
            bytes += incl;
            pos = stop;
            if (lp > 0) { peeked = 1; break; }                 /* a peek: Python's turn (see light_packet) */
            continue;
        }
        if (syn) goto slow;                                    /* SYN: Python's flow control (new flow, reuse) */
        if (!s) goto slow;                                     /* new flow: Python decides direction */
        FlowRec *fr = &t->flows[s->flow];
        int d = s->side;
        last_ts = ts;
        frame++;
        if (dk == fr->dk[d] && ts - fr->last <= t->dupwin && dk != -1) {
            dups++;
            packets++;
            bytes += incl;
            pos = stop;
            continue;
        }
        if (!fr->seen[d]) {
            /* the first frame from each side goes to Python once (sender, MAC and TTL of the host) */
            fr->seen[d] = 1;
            frame--;
            goto slow;
        }
        fr->dk[d] = dk;
        if (proto == 6) {
            uint8_t flags = f[l4 + 13];
            if (flags & 0x04) fr->fin = 3;
            else if (flags & 0x01) fr->fin |= (uint8_t)(1 << d);
        }
        if (ts > fr->last) fr->last = ts;
        fr->pk[d]++;
        fr->by[d] += incl;
        packets++;
        bytes += incl;
        Py_ssize_t plen = iend - p0;
        if (plen > 0) {
            fr->pl[d] += plen;
            if (fr->mode != MODE_OFF && deliver(t, events, s->flow, fr, d, ts, frame, f + p0, plen, seq) < 0) {
                PyBuffer_Release(&view);
                return NULL;
            }
        }
        pos = stop;
        continue;
    slow:
        break;
    }
    PyBuffer_Release(&view);
    return record(R_SCAN, "(nLLLLdi)", pos, frame, packets, bytes, dups, last_ts, peeked);
}

static PyObject *t_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    double dupwin = 0.05;
    int shard_k = 0, shard_n = 1;
    if (!PyArg_ParseTuple(args, "|dii", &dupwin, &shard_k, &shard_n)) return NULL;
    if (shard_n < 1 || shard_k < 0 || shard_k >= shard_n) { PyErr_SetString(PyExc_ValueError, "bad shard"); return NULL; }
    Table *t = (Table *)type->tp_alloc(type, 0);
    if (!t) return NULL;
    t->cap = 1 << 12;
    t->slots = PyMem_Calloc((size_t)t->cap, sizeof(Slot));
    if (!t->slots) { Py_DECREF(t); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < t->cap; i++) t->slots[i].flow = -1;
    t->dupwin = dupwin;
    t->lfree = t->lhead = t->ltail = -1;
    t->shard_k = shard_k;
    t->shard_n = shard_n;
    return (PyObject *)t;
}

static void t_dealloc(Table *t) {
    for (Py_ssize_t i = 0; i < t->nflows; i++) release(&t->flows[i]);
    PyMem_Free(t->specs);
    PyMem_Free(t->light);
    seen_free(t->hosts_known);
    seen_free(t->firsts);
    if (t->agg) { PyMem_Free(t->agg->slots); PyMem_Free(t->agg); }
    PyMem_Free(t->l2w);
    PyMem_Free(t->exp);
    if (t->memos) { for (int i = 0; i < MEMO_CAP; i++) memo_clear(&t->memos[i]); PyMem_Free(t->memos); }
    PyMem_Free(t->slots);
    PyMem_Free(t->flows);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyMethodDef t_methods[] = {
    {"add", (PyCFunction)t_add, METH_VARARGS, "register a flow: add(id, proto, vlan, cip, cport, sip, sport, dissect)"},
    {"remove", (PyCFunction)t_remove, METH_VARARGS, "forget a flow"},
    {"set_mode", (PyCFunction)t_set_mode, METH_VARARGS, "0 no dissector, 1 C feeds it, 2 payload to Python"},
    {"counters", (PyCFunction)t_counters, METH_VARARGS, "(pk0, pk1, by0, by1, pl0, pl1, last) counted here"},
    {"mark_seen", (PyCFunction)t_mark_seen, METH_VARARGS, "Python has processed the first frame of a side"},
    {"set_spec", (PyCFunction)t_set_spec, METH_VARARGS, "a dissector's steady-state layout (None: off)"},
    {"spec_counts", (PyCFunction)t_spec_counts, METH_VARARGS, "(counts0, counts1, decoded) since last call"},
    {"note", (PyCFunction)t_note, METH_VARARGS, "Python processed a packet: duplicate key, time, FIN bits"},
    {"idle", (PyCFunction)t_idle, METH_VARARGS, "flows idle past their timeout: [ids]"},
    {"state", (PyCFunction)t_state, METH_VARARGS, "(last seen, FIN/RST bits) of a flow"},
    {"scan", (PyCFunction)t_scan, METH_VARARGS, "walk records until one needs Python"},
    {"light_config", (PyCFunction)t_light_config, METH_VARARGS, "turn light flows on (max flows, port bitmaps)"},
    {"expire_light", (PyCFunction)t_expire_light, METH_VARARGS, "remove idle light flows: Expired"},
    {"fold_light", (PyCFunction)t_fold_light, METH_NOARGS, "what every light flow has new: [LightTotals]"},
    {"oldest_light", (PyCFunction)t_oldest_light, METH_NOARGS, "creation number of the oldest light flow"},
    {"first_times", (PyCFunction)t_first_times, METH_NOARGS, "[(vlan, ip, ttl, hint, last)] of first frames"},
    {"evict_light", (PyCFunction)t_evict_light, METH_NOARGS, "remove the oldest light flow: LightTotals"},
    {"light_count", (PyCFunction)t_light_count, METH_NOARGS, "(live light flows, created so far)"},
    {"table_size", (PyCFunction)t_table_size, METH_NOARGS, "(slots, slots used or tombstones)"},
    {"hosts_full", (PyCFunction)t_hosts_full, METH_NOARGS, "Python's host table is full"},
    {"adopt", (PyCFunction)t_adopt, METH_VARARGS, "hand a light flow over to Python"},
    {"expect", (PyCFunction)t_expect, METH_VARARGS, "new UDP flows with this end go to Python (on=0: forget)"},
    {"l2_watch", (PyCFunction)t_l2_watch, METH_VARARGS, "count these layer-2 frames here while a status byte holds"},
    {"l2_drain", (PyCFunction)t_l2_drain, METH_NOARGS, "watched layer-2 frames counted since the last call"},
    {"spend", (PyCFunction)t_spend, METH_VARARGS, "peek budget: 0 spent, 1 feed, 2 feed and both now spent"},
    {"peek_config", (PyCFunction)t_peek_config, METH_VARARGS, "light flows on these ports are peeked: port classes, budgets"},
    {"peek_set", (PyCFunction)t_peek_set, METH_VARARGS, "a peeked light flow's label, and/or the end of its peek"},
    {"memo_put", (PyCFunction)t_memo_put, METH_VARARGS, "remember how a finished peek looked (see Memo)"},
    {"memo_collect", (PyCFunction)t_memo_collect, METH_NOARGS, "memo events matched since the last call"},
    {"memo_counts", (PyCFunction)t_memo_counts, METH_NOARGS, "(flows matched whole, events matched)"},
    {"memo_text_config", (PyCFunction)t_memo_text_config, METH_VARARGS, "declare a text head normal form (TextSpec)"},
    {"text_norm", (PyCFunction)t_text_norm, METH_VARARGS, "the normal form of a text head, None if none"},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "otscope.agent._fastscan.Table",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = t_new,
    .tp_dealloc = (destructor)t_dealloc,
    .tp_methods = t_methods,
    .tp_doc = "Established-flow fast path of the capture loop",
};

static PyMethodDef m_methods[] = {
    {"records", m_records, METH_VARARGS, "walk pcap record headers: (boundary, count, bad offset)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_fastscan", "otscope capture fast path", -1, m_methods};

PyMODINIT_FUNC PyInit__fastscan(void) {
    if (PyType_Ready(&TableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&mod);
    if (!m) return NULL;
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "Table", (PyObject *)&TableType) < 0) { Py_DECREF(&TableType); Py_DECREF(m); return NULL; }
    for (int i = 0; i < N_RECORDS; i++) {
        if (!record_types[i] && !(record_types[i] = PyStructSequence_NewType(&record_descs[i]))) goto fail;
        const char *dot = strrchr(record_descs[i].name, '.');
        if (PyModule_AddObjectRef(m, dot + 1, (PyObject *)record_types[i]) < 0) goto fail;
    }
    static const struct { const char *name; int value; } ints[] = {
        {"EV_PAYLOAD", EV_PAYLOAD}, {"EV_UDP", EV_UDP}, {"EV_DRAIN", EV_DRAIN}, {"EV_ERROR", EV_ERROR},
        {"EV_LIGHT_NEW", EV_LIGHT_NEW}, {"EV_LIGHT_FIRST", EV_LIGHT_FIRST}, {"EV_LIGHT_END", EV_LIGHT_END},
        {"EV_LIGHT_PEEK", EV_LIGHT_PEEK}, {"EV_LIGHT_MEMO", EV_LIGHT_MEMO},
        {"MODE_OFF", MODE_OFF}, {"MODE_FEED", MODE_FEED}, {"MODE_EVENTS", MODE_EVENTS}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (PyModule_AddIntConstant(m, ints[i].name, ints[i].value) < 0) goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
