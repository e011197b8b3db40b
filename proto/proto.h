/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire protocol's codec: the only code that knows the bytes on the wire.
 * proto/PROTOCOL.md is the contract; this header is its C face.
 *
 * A message is a ZeroMQ multipart message: one PR_HEADER_SIZE header frame,
 * then at most one body frame of header.body_len bytes (absent when 0).  All
 * integers are little-endian; strings are a u16 length then that many bytes,
 * no NUL.
 *
 * Encoders append a body to a pr_buf_t and refuse values beyond the limits,
 * so a well-behaved peer never sends what the other side rejects.  Decoders
 * bounds-check every field against the buffer and the limits and never trust
 * a length; they return 0 or a negative errno (-EBADMSG for malformed bytes,
 * -EMSGSIZE for a count or length beyond a limit, -ENAMETOOLONG for an
 * overlong path or name).  Decoded strings (pr_str_t) are borrowed views into
 * the decoded buffer: valid while it lives, not NUL-terminated.  Decoded
 * arrays are allocated; free them with the matching pr_*_free().
 *
 * Thread safety: all functions are reentrant; they touch only their
 * arguments.
 */
#ifndef PR_PROTO_H
#define PR_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PR_MAGIC       0x43494c53u /* "SLIC" on the wire */
#define PR_VERSION     7
#define PR_HEADER_SIZE 48

/* Limits: see PROTOCOL.md. */
#define PR_MAX_PATH	    4095
#define PR_MAX_NAME	    255
#define PR_MAX_VERSION	    128
#define PR_MAX_CURSOR	    1024
#define PR_MAX_LIST_ENTRIES 1024
#define PR_MAX_NODES	    1024
#define PR_MAX_DATASETS	    1024
#define PR_MAX_STATS	    1024
#define PR_MAX_ERRMSG	    1024
#define PR_MAX_BLOCK	    (64u << 20)
#define PR_MAX_BODY	    (PR_MAX_BLOCK + (1u << 20))

typedef enum pr_op {
	PR_OP_HELLO = 1,
	PR_OP_STAT = 2,
	PR_OP_LIST = 3,
	PR_OP_READ = 4,
	PR_OP_PREFETCH = 5,
	PR_OP_LOAD = 6,
	PR_OP_STATS = 7,
	PR_OP_EVICT = 8,
	PR_OP_PEER_READ = 9,
	PR_OP_DRAIN = 10,
	PR_OP_REPLICATE = 11,
	PR_OP_HELD = 12,
} pr_op_t;
#define PR_OP_MAX 12

/* Header flags. */
#define PR_F_REPLY 0x0001u /* a reply (else a request) */
#define PR_F_LZ4   0x0002u /* body is LZ4-packed, see pr_lz4_*() */
#define PR_F_MORE  0x0004u /* more replies follow for this request (LOAD) */
/* Bits 3..5: on a successful READ or PEER_READ reply, the tier that served
 * the block (enum pr_tier); 0 on every other message. */
#define PR_F_TIER_SHIFT 3
#define PR_F_TIER_MASK	(7u << PR_F_TIER_SHIFT)
#define PR_F_KNOWN	(PR_F_REPLY | PR_F_LZ4 | PR_F_MORE | PR_F_TIER_MASK)

/* Where a node found the block it answers a READ with.  A block the
 * reply waited for in another request's fetch has that fetch's source. */
typedef enum pr_tier {
	PR_TIER_NONE = 0,    /* not a READ reply, or one without a block */
	PR_TIER_RAM = 1,     /* the node's RAM tier */
	PR_TIER_DISK = 2,    /* the node's disk tier (or its write queue) */
	PR_TIER_BACKEND = 3, /* fetched from the backend for this read */
	PR_TIER_PEER = 4,    /* handed over by another node (PEER_READ) */
} pr_tier_t;
#define PR_TIER_MAX 4

/* The tier bits of flags, and flags with tier t in them. */
static inline unsigned pr_flags_tier(unsigned flags)
{
	return (flags & PR_F_TIER_MASK) >> PR_F_TIER_SHIFT;
}

static inline uint16_t pr_flags_with_tier(unsigned flags, unsigned t)
{
	return (uint16_t)((flags & ~PR_F_TIER_MASK) |
			  ((t << PR_F_TIER_SHIFT) & PR_F_TIER_MASK));
}

/* A status on the wire is 0 or a negated errno: -PR_ERRNO_MAX..0. */
#define PR_ERRNO_MAX 4095

typedef struct pr_header {
	uint8_t opcode;
	uint16_t flags;
	uint64_t req_id;
	int32_t status;	       /* 0, or -PR_ERRNO_MAX..-1 (replies only) */
	uint32_t ring_version; /* the sender's ring: a hash of its members */
	uint32_t body_len;
	uint64_t body_hash;  /* xxh3-64 of the body as sent; 0 if empty */
	uint64_t generation; /* of the sender's ring; 0 = none yet */
} pr_header_t;

/* Returns a static name ("READ") or "UNKNOWN". */
const char *pr_op_name(unsigned op);
int pr_op_known(unsigned op);

/* Fill out[PR_HEADER_SIZE].  Returns 0, or -EINVAL for a header the
 * decoder would reject (unknown flags, a status out of range, ...). */
int pr_header_encode(const pr_header_t *h, uint8_t *out);
/*
 * Decode a header frame.  Returns 0; -EBADMSG for a wrong size, magic,
 * unknown flag bits or a status outside -PR_ERRNO_MAX..0 (so a decoded
 * status can always be negated); -EPROTONOSUPPORT for another protocol
 * version (h is still filled so the caller can reply); -EMSGSIZE for
 * body_len > PR_MAX_BODY.  An unknown opcode decodes (the server answers
 * it with -EOPNOTSUPP).
 */
int pr_header_decode(pr_header_t *h, const void *buf, size_t len);

/*
 * What a status tells whoever receives it (PROTOCOL.md section 5 has the
 * table, and why):
 *   OK          0;
 *   ANSWER      the request's answer, the same from every node (ENOENT,
 *               EISDIR, ESTALE, EACCES, EINVAL, ...): report it;
 *   NEXT        this node cannot serve the request now, another one can
 *               (ESHUTDOWN, ENODATA from PEER_READ, ...): ask the next;
 *   LATER       a temporary shortage of the node or its store (EAGAIN,
 *               ENOMEM, ETIMEDOUT, EIO, ...): another node, or this one
 *               later, may succeed;
 *   REMAP       EREMCHG: the request was made under a dataset layout
 *               this node does not serve (its block size changed on
 *               reload): fetch the map again and plan the request anew;
 *               a node still on the request's layout may serve it as
 *               made, so another node may be asked meanwhile;
 *   UNEXPECTED  any other errno: report it as it is, and log it loudly.
 * A cache node judging its backend's error reads ANSWER as the client's
 * doing (log at debug) and every other class as the store's (a warning).
 * Defined for every int: a status out of the wire's range (positive, or
 * below -PR_ERRNO_MAX) is NEXT, the verdict on a broken peer.
 */
typedef enum pr_status_class {
	PR_STATUS_OK,
	PR_STATUS_ANSWER,
	PR_STATUS_NEXT,
	PR_STATUS_LATER,
	PR_STATUS_REMAP,
	PR_STATUS_UNEXPECTED,
} pr_status_class_t;

pr_status_class_t pr_status_class(int status);

uint64_t pr_body_hash(const void *body, size_t len);
/* -EBADMSG unless len == h->body_len and the hash matches. */
int pr_body_verify(const pr_header_t *h, const void *body, size_t len);

/* A growable output buffer; control memory (aborts on OOM). */
typedef struct pr_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} pr_buf_t;

void pr_buf_init(pr_buf_t *b);
void pr_buf_fini(pr_buf_t *b);
void pr_buf_reset(pr_buf_t *b);
/* Hand the bytes to the caller (free() them); b is left empty. */
uint8_t *pr_buf_release(pr_buf_t *b, size_t *len);

typedef struct pr_str {
	const char *ptr;
	uint32_t len;
} pr_str_t;

/* A view of a NUL-terminated string (borrowed). */
pr_str_t pr_str(const char *s);
/* Copy into dst[cap] with a NUL; -ENAMETOOLONG if it does not fit. */
int pr_str_copy(char *dst, size_t cap, pr_str_t s);
int pr_str_eq(pr_str_t s, const char *cstr);

/* Entry types. */
#define PR_TYPE_FILE 1
#define PR_TYPE_DIR  2

/* A request naming an entry: STAT, and LOAD and EVICT (path = prefix). */
typedef struct pr_target {
	pr_str_t dataset;
	pr_str_t path; /* dataset-relative, "" = root; checked by the decoder */
} pr_target_t;

/* STAT reply, and each LIST entry's attributes. */
typedef struct pr_stat {
	uint8_t type;  /* PR_TYPE_* */
	uint32_t mode; /* permission bits only */
	uint64_t size;
	int64_t mtime_ns;
	pr_str_t version; /* opaque, <= PR_MAX_VERSION; "" for directories */
} pr_stat_t;

typedef struct pr_list_req {
	pr_str_t dataset;
	pr_str_t path;
	pr_str_t cursor;      /* "" = from the start */
	uint32_t max_entries; /* 1..PR_MAX_LIST_ENTRIES */
} pr_list_req_t;

typedef struct pr_dirent {
	pr_str_t name; /* one component */
	pr_stat_t st;
} pr_dirent_t;

typedef struct pr_list_reply {
	pr_str_t next_cursor; /* "" = this was the last page */
	uint32_t n_entries;
	pr_dirent_t *entries; /* decoded: allocated, pr_list_reply_free() */
} pr_list_reply_t;

/* READ, PEER_READ, PREFETCH and REPLICATE (the last two: offset and length
 * ignored, a whole block). */
typedef struct pr_read_req {
	pr_str_t dataset;
	uint32_t layout; /* the dataset's layout the asker assumes (HELLO) */
	pr_str_t path;
	pr_str_t version;
	uint64_t block;	 /* block index in the file */
	uint32_t offset; /* byte offset inside the block */
	uint32_t length; /* bytes wanted; offset + length <= PR_MAX_BLOCK */
} pr_read_req_t;
/* The READ reply body is the raw bytes (shorter than asked at EOF). */

typedef struct pr_hello_node {
	pr_str_t name;
	pr_str_t addr;
	uint32_t weight;
} pr_hello_node_t;

/* Drain states (the DRAIN request's target, and a node's own). */
#define PR_DRAIN_NONE	  0 /* in placement */
#define PR_DRAIN_DRAINING 1 /* out of placement, answers PEER_READ */
#define PR_DRAIN_DRAINED  2 /* the grace period is over */

typedef struct pr_hello_dataset {
	pr_str_t name;
	pr_str_t backend;
	uint32_t block_size;
	uint32_t layout; /* what gives block N its meaning; never 0 */
	/* Since when the node serves this layout (ms since the epoch): of
	 * two layouts, the later wins. */
	uint64_t layout_since_ms;
	pr_str_t policy; /* "lru": [a-z0-9_]{1,SL_POLICY_MAX} */
	uint64_t metadata_ttl_ms;
} pr_hello_dataset_t;

typedef struct pr_hello {
	pr_str_t cluster;
	pr_str_t node; /* the answering node's name */
	uint32_t ring_version;
	uint64_t generation; /* of the ring: the greater is the newer */
	uint8_t drain;	     /* the answering node's PR_DRAIN_* */
	uint32_t n_nodes;
	pr_hello_node_t *nodes;
	uint32_t n_datasets;
	pr_hello_dataset_t *datasets;
} pr_hello_t;

/* LOAD: warm path of dataset with at most parallel block fetches at once
 * on the node; load_id (not 0) names the load, so that a second LOAD
 * with cancel set stops it; skip names nodes to treat as down (their
 * blocks go to the next node of each preference list). */
#define PR_MAX_LOAD_SKIP     16
#define PR_MAX_LOAD_PARALLEL 256
typedef struct pr_load_req {
	pr_str_t dataset;
	pr_str_t path; /* "" = the whole dataset */
	uint64_t load_id;
	uint32_t
		parallel; /* 0..PR_MAX_LOAD_PARALLEL; 0: count, fetch nothing */
	uint8_t cancel;	  /* 0 or 1 */
	uint32_t n_skip;  /* <= PR_MAX_LOAD_SKIP */
	pr_str_t skip[PR_MAX_LOAD_SKIP];
} pr_load_req_t;

/* LOAD progress (each reply; the last lacks PR_F_MORE). */
#define PR_LOAD_RUNNING 0 /* more to come, or all loaded */
#define PR_LOAD_SHORT	1 /* capacity or the pin policy stopped it */
typedef struct pr_load_progress {
	uint64_t files_done;
	uint64_t files_total;
	uint64_t bytes_done;
	uint64_t bytes_total;
	uint64_t errors;
	uint8_t state;	 /* PR_LOAD_* */
	pr_str_t failed; /* a path whose blocks failed, "" = none */
} pr_load_progress_t;

typedef struct pr_stats_item {
	pr_str_t name; /* metric name, <= PR_MAX_NAME */
	uint64_t value;
} pr_stats_item_t;

typedef struct pr_stats {
	uint32_t n_items;
	pr_stats_item_t *items;
} pr_stats_t;

typedef struct pr_evict_reply {
	uint64_t blocks;
	uint64_t bytes;
} pr_evict_reply_t;

/* DRAIN: take node out of placement at generation (0: the receiver's
 * clock), answering PEER_READ for grace_ms (<= PR_MAX_GRACE_MS). */
#define PR_MAX_GRACE_MS (24ull * 3600 * 1000)
typedef struct pr_drain_req {
	pr_str_t node;
	uint64_t grace_ms;
	uint64_t generation;
} pr_drain_req_t;

/* Encoders: append to b.  0 or -EMSGSIZE / -ENAMETOOLONG / -EINVAL. */
int pr_target_encode(pr_buf_t *b, const pr_target_t *m);
int pr_stat_encode(pr_buf_t *b, const pr_stat_t *m);
int pr_list_req_encode(pr_buf_t *b, const pr_list_req_t *m);
int pr_list_reply_encode(pr_buf_t *b, const pr_list_reply_t *m);
int pr_read_req_encode(pr_buf_t *b, const pr_read_req_t *m);
int pr_hello_encode(pr_buf_t *b, const pr_hello_t *m);
int pr_load_req_encode(pr_buf_t *b, const pr_load_req_t *m);
int pr_load_progress_encode(pr_buf_t *b, const pr_load_progress_t *m);
int pr_stats_encode(pr_buf_t *b, const pr_stats_t *m);
int pr_evict_reply_encode(pr_buf_t *b, const pr_evict_reply_t *m);
/* HELD's reply: whether the node holds the block (0 or 1). */
int pr_held_reply_encode(pr_buf_t *b, uint8_t held);
int pr_drain_req_encode(pr_buf_t *b, const pr_drain_req_t *m);
/* An error reply's body: a human-readable message, truncated to
 * PR_MAX_ERRMSG. */
int pr_errmsg_encode(pr_buf_t *b, const char *msg);

/* Decoders: the whole buffer must be consumed (trailing bytes: -EBADMSG). */
int pr_target_decode(pr_target_t *m, const void *buf, size_t len);
int pr_stat_decode(pr_stat_t *m, const void *buf, size_t len);
int pr_list_req_decode(pr_list_req_t *m, const void *buf, size_t len);
int pr_list_reply_decode(pr_list_reply_t *m, const void *buf, size_t len);
void pr_list_reply_free(pr_list_reply_t *m);
int pr_read_req_decode(pr_read_req_t *m, const void *buf, size_t len);
int pr_hello_decode(pr_hello_t *m, const void *buf, size_t len);
void pr_hello_free(pr_hello_t *m);
int pr_load_req_decode(pr_load_req_t *m, const void *buf, size_t len);
int pr_load_progress_decode(pr_load_progress_t *m, const void *buf, size_t len);
int pr_stats_decode(pr_stats_t *m, const void *buf, size_t len);
void pr_stats_free(pr_stats_t *m);
int pr_evict_reply_decode(pr_evict_reply_t *m, const void *buf, size_t len);
int pr_held_reply_decode(uint8_t *held, const void *buf, size_t len);
int pr_drain_req_decode(pr_drain_req_t *m, const void *buf, size_t len);
int pr_errmsg_decode(pr_str_t *msg, const void *buf, size_t len);

/*
 * LZ4 packing of a body: u32 raw length, then one LZ4 block.  pack appends to
 * b and returns 0, or -EAGAIN when packing would not save at least 1/8 of
 * the bytes (send it raw).  unpack writes at most cap bytes to out and sets
 * *out_len; -EBADMSG for a corrupt or oversized body.
 */
int pr_lz4_pack(pr_buf_t *b, const void *raw, size_t len);
int pr_lz4_unpack(const void *buf, size_t len, void *out, size_t cap,
		  size_t *out_len);
/* The raw length a packed body announces, or -EBADMSG. */
int64_t pr_lz4_raw_len(const void *buf, size_t len);

#endif
