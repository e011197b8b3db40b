/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster membership through etcd (common/etcd.h), what cache nodes and
 * FUSE clients need of it: a member record and its JSON, a registration
 * that keeps one member in etcd under a lease, and a view of every member
 * with an ordered generation, kept current by a watch.
 *
 * Layout in etcd: one key per member, PREFIX "members/" NAME, whose value
 * is the member's JSON object (sl_members_encode), put under a lease of
 * lease_ttl that the registration keeps alive; a node that stops cleanly
 * revokes it, one that dies drops out when it expires.
 *
 * The view never blocks its reader: a thread of its own ranges the
 * prefix, watches it and publishes an immutable, reference-counted set
 * (sl_members_snapshot); its fd turns readable when a new set is out.  A
 * value that is not a valid member (not JSON, a field missing or out of
 * range, a bad address or name, a name other than its key's, an address
 * another member already has) is logged once and left out; the rest of the
 * set stands.  When etcd is unreachable the view keeps the last set, logs
 * one line when etcd is lost and one when it is back, and then ranges
 * again and watches anew; the registration keeps trying, and puts the
 * member again under a new lease when the old one was lost.
 *
 * Threads: new, destroy, register and deregister from one thread (the
 * owner's); snapshot, fd, wait and stats from any thread.
 */
#ifndef SL_MEMBERS_H
#define SL_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h" /* SL_NAME_MAX, SL_ADDR_MAX */

#define SL_MEMBERS_KEY_MAX   128  /* public key: printable ASCII, no blank */
#define SL_MEMBERS_VALUE_MAX 4096 /* bytes of one member's JSON */
#define SL_MEMBERS_MAX	     4096 /* default bound on keys under members/ */

/* One member: a plain descriptor.  "" for an absent optional string. */
typedef struct sl_member {
	char name[SL_NAME_MAX + 1];		 /* sl_name_valid */
	char addr[SL_ADDR_MAX + 1];		 /* tcp://HOST:PORT */
	char metrics_addr[SL_ADDR_MAX + 1];	 /* HOST:PORT, optional */
	uint32_t weight;			 /* 1..100 */
	uint64_t capacity;			 /* bytes */
	char public_key[SL_MEMBERS_KEY_MAX + 1]; /* opaque, optional */
} sl_member_t;

/* 0 when m is a valid member, else -EINVAL and why[whylen] says which
 * field and how (m borrowed). */
int sl_members_check(const sl_member_t *m, char *why, size_t whylen);
/* m (checked first: NULL for an invalid one) as a JSON object,
 * NUL-terminated; caller frees. */
char *sl_members_encode(const sl_member_t *m);
/* A member from json[0..len) (borrowed) into *out: 0, -EBADMSG (not a
 * JSON object, or over SL_MEMBERS_VALUE_MAX) or -EINVAL (a field missing
 * or bad), with why.  Fields it does not know are ignored, so that newer
 * nodes may add some. */
int sl_members_decode(const void *json, size_t len, sl_member_t *out, char *why,
		      size_t whylen);

/*
 * A published set: immutable, shared by reference; release with
 * sl_members_set_put.  generation is the etcd revision up to which the set
 * is complete: a greater generation reflects every change a lesser one
 * does (two views may give one set different generations).  0: never
 * synchronised yet.
 */
typedef struct sl_members_set {
	uint64_t generation;
	size_t count;
	const sl_member_t *members; /* sorted by name */
} sl_members_set_t;

/* Drop the reference *sp (accepts NULL); clears *sp. */
void sl_members_set_put(const sl_members_set_t **sp);
/* The member called name in s, or NULL.  Borrowed from s. */
const sl_member_t *sl_members_set_find(const sl_members_set_t *s,
				       const char *name);

typedef struct sl_members sl_members_t;

typedef struct sl_members_opts {
	const char *endpoints; /* "http://HOST:2379,...", borrowed */
	const char *prefix;    /* "/sluice/CLUSTER/" ('/' added if missing) */
	uint64_t lease_ttl_ms; /* 0: 10 s; rounded up to whole seconds */
	uint64_t timeout_ms;   /* each etcd call; 0: 5 s */
	size_t max_members;    /* keys under members/; 0: SL_MEMBERS_MAX */
} sl_members_opts_t;

/*
 * Start a view of the members under o->prefix (its thread ranges and
 * watches from now on).  NULL with *err = -errno and why for bad options
 * (an endpoint list etcd.h refuses, an empty prefix) or no thread.  An
 * unreachable etcd is not an error here.  Caller destroys.
 */
sl_members_t *sl_members_new(const sl_members_opts_t *o, int *err, char *why,
			     size_t whylen);
/*
 * The members under o->prefix now, by one range on the calling thread (no
 * thread is started, so it may run before fork()): a set as a view's,
 * valid members only (bad values logged), for sl_members_set_put.  NULL
 * with *err (-EHOSTUNREACH: no etcd answered, ...) and why.
 */
const sl_members_set_t *sl_members_fetch(const sl_members_opts_t *o, int *err,
					 char *why, size_t whylen);
/* Deregister (if registered), stop the threads.  Accepts NULL; clears
 * *mp.  Sets already taken stay valid until put. */
void sl_members_destroy(sl_members_t **mp);

/* Readable when a set newer than the last snapshot was published.
 * Borrowed. */
int sl_members_fd(const sl_members_t *m);
/* The current set (a reference: sl_members_set_put it); never blocks,
 * never NULL.  Clears the fd. */
const sl_members_set_t *sl_members_snapshot(sl_members_t *m);
/* Wait up to timeout_ms for the view's first synchronisation with etcd:
 * 0, or -ETIMEDOUT. */
int sl_members_wait(sl_members_t *m, uint64_t timeout_ms);

/*
 * Keep self (copied) registered from now on: a thread grants a lease,
 * puts the member under it, refreshes it every third of its TTL, and
 * registers again when it was lost.  Returns 0 once the thread runs (the
 * first put may still be under way, or waiting for etcd), -EINVAL (why
 * says it) for an invalid member, -EALREADY when registered.
 */
int sl_members_register(sl_members_t *m, const sl_member_t *self, char *why,
			size_t whylen);
/* Stop refreshing and revoke the lease, so the member leaves every view
 * now.  0, -ENOENT when not registered, or the revoke's error (the lease
 * then expires by itself). */
int sl_members_deregister(sl_members_t *m);

typedef struct sl_members_stats {
	int online;		/* the view's last call to etcd succeeded */
	uint64_t generation;	/* of the current set */
	size_t members;		/* in the current set */
	size_t ignored;		/* keys under members/ left out of it now */
	uint64_t bad_values;	/* values left out since start */
	uint64_t resyncs;	/* full ranges of the prefix */
	uint64_t registrations; /* leases granted and the member put */
	int64_t lease;		/* the registration's lease, 0: none */
} sl_members_stats_t;

void sl_members_stats(sl_members_t *m, sl_members_stats_t *out);

#endif
