/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Eviction policies, driven through the real RAM tier: the LRU order and
 * pin's refusal to evict; capacity never exceeded under random sequences of
 * misses, hits, held replies and releases; and the reason pin exists: over
 * a dataset twice the cache and four shuffled epochs, pin hits exactly the
 * cached fraction from epoch 2 on while LRU hits less.  A policy of the
 * test's own (FIFO), given to a real node, evicts in both tiers without
 * either knowing it; a policy the node does not know stops it with the
 * config's file and line.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachenode/policy.h"
#include "cachenode/ramtier.h"
#include "cachenode/server.h"
#include "common/blockkey.h"
#include "common/log.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_node.h"
#include "test/helper_proc.h"

/* xorshift64*: deterministic, seedable, good enough for shuffles. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static sl_blockkey_t key_of(uint64_t i)
{
	return sl_blockkey_make("ds", 1, "file", "v1", i);
}

START_TEST(test_lru_order)
{
	cn_policy_t *p = cn_policy_new(cn_policy_find("lru", NULL, 0));
	sl_list_t a, b, c;

	ck_assert_ptr_eq(cn_policy_find("lru", NULL, 0), &cn_policy_lru);
	ck_assert_ptr_eq(cn_policy_find("pin", NULL, 0), &cn_policy_pin);
	ck_assert_ptr_null(cn_policy_find("fifo", NULL, 0));
	ck_assert_ptr_null(p->ops->victim(p->st));
	p->ops->insert(p->st, &a);
	p->ops->insert(p->st, &b);
	p->ops->insert(p->st, &c);
	ck_assert_ptr_eq(p->ops->victim(p->st), &a);
	p->ops->hit(p->st, &a);
	ck_assert_ptr_eq(p->ops->victim(p->st), &b);
	p->ops->remove(p->st, &b);
	ck_assert_ptr_eq(p->ops->victim(p->st), &c);
	p->ops->remove(p->st, &c);
	p->ops->remove(p->st, &a);
	ck_assert_ptr_null(p->ops->victim(p->st));
	cn_policy_destroy(&p);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_pin_never_offers_victims)
{
	cn_policy_t *p = cn_policy_new(&cn_policy_pin);
	sl_list_t a;

	p->ops->insert(p->st, &a);
	p->ops->hit(p->st, &a);
	ck_assert_ptr_null(p->ops->victim(p->st));
	p->ops->remove(p->st, &a);
	cn_policy_destroy(&p);
}
END_TEST

#define HELD_MAX 64

/*
 * Random misses (random sizes, some mmap()ed, some not), hits, replies
 * that hold a block for a while (as ZeroMQ does) and releases.  After
 * every step: used <= capacity, transient <= slack.  Every hit's bytes are
 * checked, so a block freed under a held reply shows up (with ASan, at
 * once).
 */
static void random_run(int mode, uint64_t seed)
{
	const uint64_t cap = 2u << 20, slack = 512u << 10;
	cn_ramtier_t *t = cn_ramtier_new(cap, slack, NULL);
	cn_block_t *held[HELD_MAX] = {0};
	size_t n_held = 0;
	uint64_t s = seed;

	for (int step = 0; step < 20000; step++) {
		uint64_t r = rnd(&s), k = r % 300;
		sl_blockkey_t key = key_of(k);
		cn_block_t *b = cn_ramtier_get(t, key);

		if (b) {
			ck_assert_uint_eq(cn_block_data(b)[0], (uint8_t)k);
			ck_assert_uint_eq(cn_block_data(b)[cn_block_len(b) - 1],
					  (uint8_t)(k * 7));
		} else {
			size_t len = 1 + (size_t)(rnd(&s) % (160u << 10));
			const cn_policy_ops_t *pol =
				(mode == 2 ? k % 2 : (uint64_t)mode)
					? &cn_policy_pin
					: &cn_policy_lru;
			int err;

			b = cn_ramtier_alloc(t, pol, (uint32_t)(k % 3), len,
					     &err);
			if (!b) {
				ck_assert_int_eq(err, -ENOMEM);
			} else {
				memset(cn_block_data(b), 0xee, len);
				cn_block_data(b)[0] = (uint8_t)k;
				cn_block_data(b)[len - 1] = (uint8_t)(k * 7);
				if (rnd(&s) % 8 == 0) {
					/* a short read at EOF */
					size_t nl = 1 + (size_t)(rnd(&s) % len);

					cn_block_trim(b, nl);
					cn_block_data(b)[nl - 1] =
						(uint8_t)(k * 7);
				}
				cn_ramtier_insert(t, key, b);
			}
		}
		if (b && n_held < HELD_MAX && rnd(&s) % 3 == 0)
			held[n_held++] = b; /* a reply still being sent */
		else if (b)
			cn_block_unref(b);
		if (n_held && rnd(&s) % 2 == 0) {
			size_t i = (size_t)(rnd(&s) % n_held);

			cn_block_zmq_free(NULL, held[i]);
			held[i] = held[--n_held];
		}
		if (step % 5000 == 4999)
			cn_ramtier_purge(t, (uint32_t)(step % 3));
		ck_assert_uint_le(cn_ramtier_used(t), cap);
		ck_assert_uint_le(cn_ramtier_transient(t), slack);
	}
	while (n_held)
		cn_block_unref(held[--n_held]);
	ck_assert_uint_eq(cn_ramtier_transient(t), 0);
	for (uint32_t tag = 0; tag < 3; tag++)
		cn_ramtier_purge(t, tag);
	ck_assert_uint_eq(cn_ramtier_count(t), 0);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	cn_ramtier_destroy(&t);
}

START_TEST(test_capacity_never_exceeded_lru)
{
	random_run(0, 0x1234567ull);
}
END_TEST

START_TEST(test_capacity_never_exceeded_pin)
{
	random_run(1, 0x89abcdefull);
}
END_TEST

START_TEST(test_capacity_never_exceeded_mixed)
{
	random_run(2, 0xfeedfaceull);
}
END_TEST

#define BLOCK	 (64u << 10)
#define CACHED	 100
#define DATASET	 (2 * CACHED)
#define N_EPOCHS 4

/* Hits per epoch of one policy over shuffled epochs of DATASET blocks. */
static void run_epochs(const cn_policy_ops_t *pol, size_t hits[N_EPOCHS],
		       size_t *cached)
{
	uint64_t cap = CACHED * cn_ramtier_charge(BLOCK);
	cn_ramtier_t *t =
		cn_ramtier_new(cap, 2 * cn_ramtier_charge(BLOCK), NULL);
	uint64_t order[DATASET], s = 42;

	for (uint64_t i = 0; i < DATASET; i++)
		order[i] = i;
	for (int e = 0; e < N_EPOCHS; e++) {
		hits[e] = 0;
		for (size_t i = DATASET - 1; i > 0; i--) {
			size_t j = (size_t)(rnd(&s) % (i + 1));
			uint64_t tmp = order[i];

			order[i] = order[j];
			order[j] = tmp;
		}
		for (size_t i = 0; i < DATASET; i++) {
			sl_blockkey_t key = key_of(order[i]);
			cn_block_t *b = cn_ramtier_get(t, key);
			int err;

			if (b) {
				hits[e]++;
			} else {
				b = cn_ramtier_alloc(t, pol, 1, BLOCK, &err);
				ck_assert_ptr_nonnull(b);
				cn_ramtier_insert(t, key, b);
			}
			cn_block_unref(b);
			ck_assert_uint_le(cn_ramtier_used(t), cap);
		}
	}
	*cached = cn_ramtier_count(t);
	cn_ramtier_destroy(&t);
}

START_TEST(test_shuffled_epochs_pin_beats_lru)
{
	size_t pin[N_EPOCHS], lru[N_EPOCHS], pin_cached, lru_cached;

	run_epochs(&cn_policy_pin, pin, &pin_cached);
	run_epochs(&cn_policy_lru, lru, &lru_cached);
	/* Both fill the cache exactly; the dataset is twice that. */
	ck_assert_uint_eq(pin_cached, CACHED);
	ck_assert_uint_eq(lru_cached, CACHED);
	ck_assert_uint_eq(pin[0], 0);
	for (int e = 1; e < N_EPOCHS; e++) {
		printf("epoch %d: pin %zu/%d hits, lru %zu/%d hits\n", e + 1,
		       pin[e], DATASET, lru[e], DATASET);
		/* pin: hit ratio == cached fraction (1/2), exactly. */
		ck_assert_uint_eq(pin[e], pin_cached);
		ck_assert_uint_eq(pin[e] * DATASET, pin_cached * DATASET);
		/* lru thrashes: strictly fewer hits, every epoch. */
		ck_assert_uint_lt(lru[e], pin[e]);
	}
}
END_TEST

/* ---- A policy of the test's own: first in, first out ------------------ */

/* The node knows it only because the test gives it (cn_server_opts_t);
 * neither tier knows anything of it. */
typedef struct fifo {
	sl_list_t head; /* front: the newest */
} fifo_t;

static void *fifo_create(void)
{
	fifo_t *f = malloc(sizeof(*f));

	ck_assert_ptr_nonnull(f);
	sl_list_init(&f->head);
	return f;
}

static void fifo_destroy(void *st)
{
	fifo_t *f = st;

	while (!sl_list_empty(&f->head))
		sl_list_del(f->head.next);
	free(f);
}

static void fifo_insert(void *st, sl_list_t *link)
{
	fifo_t *f = st;

	sl_list_add_front(&f->head, link);
}

static void fifo_hit(void *st, sl_list_t *link)
{
	(void)st;
	(void)link; /* a hit changes nothing: that is the point */
}

static void fifo_remove(void *st, sl_list_t *link)
{
	(void)st;
	sl_list_del(link);
}

static sl_list_t *fifo_first_in(void *st)
{
	fifo_t *f = st;

	return sl_list_last(&f->head);
}

static const cn_policy_ops_t fifo_ops = {
	.version = CN_POLICY_OPS_VERSION,
	.name = "fifo",
	.create = fifo_create,
	.destroy = fifo_destroy,
	.insert = fifo_insert,
	.hit = fifo_hit,
	.remove = fifo_remove,
	.victim = fifo_first_in,
	.oldest = fifo_first_in,
};

static const cn_policy_ops_t *const extra[] = {&fifo_ops};

static char *tmp;
static th_node_t node;
static th_client_t *cli;

static void node_setup(void)
{
	char path[512], *data = malloc(8 * BLOCK);

	tmp = th_tmpdir("cn-policy");
	ck_assert_ptr_nonnull(tmp);
	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < 8 * BLOCK; i++)
		data[i] = (char)(i * 7 + (i >> 16));
	snprintf(path, sizeof(path), "%s/data", tmp);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/data/f", tmp);
	ck_assert_int_eq(th_write_file(path, data, 8 * BLOCK), 0);
	free(data);
}

static void node_teardown(void)
{
	th_client_destroy(&cli);
	th_node_stop(&node);
	th_rmtree(tmp);
	free(tmp);
}

/* A node with one posix dataset "ds" over tmp/data under policy. */
static int start(const char *node_keys, const char *policy,
		 const cn_server_opts_t *opts, char *err, size_t errlen)
{
	char ds[1024];
	int rc;

	snprintf(ds, sizeof(ds),
		 "[dataset ds]\nbackend = posix\nuri = file://%s/data\n"
		 "block_size = 64K\npolicy = %s\n",
		 tmp, policy);
	rc = th_node_start(&node, node_keys, ds, opts, err, errlen);
	if (rc == 0) {
		cli = th_client_new(node.endpoint, 10000);
		ck_assert_ptr_nonnull(cli);
	}
	return rc;
}

/* READ block i of f; 1 when counter (a metric of the node) moved. */
static int read_moves(uint64_t i, _Atomic uint64_t *counter)
{
	static char buf[BLOCK];
	uint64_t before = atomic_load(counter);

	ck_assert_int_eq(
		th_client_read(cli, "ds", "f", "", i, 0, 0, buf, sizeof(buf)),
		BLOCK);
	ck_assert_int_eq(buf[1], (char)((i * BLOCK + 1) * 7 + i));
	return atomic_load(counter) != before;
}

/* The RAM tier evicts by it: 4 blocks fit; a hit does not save block 0
 * from going first (lru would keep it and drop block 1). */
START_TEST(test_fifo_in_ram)
{
	cn_server_opts_t opts = {.policies = extra, .n_policies = 1};
	char err[512];
	cn_metrics_t *m;

	ck_assert_msg(start("ram_capacity = 300K\n", "fifo", &opts, err,
			    sizeof(err)) == 0,
		      "%s", err);
	m = cn_server_metrics(node.srv);
	for (uint64_t i = 0; i < 4; i++)
		ck_assert(!read_moves(i, &m->ram_hits));
	ck_assert(read_moves(0, &m->ram_hits));
	ck_assert(!read_moves(4, &m->ram_hits));
	ck_assert(read_moves(1, &m->ram_hits));
	ck_assert(!read_moves(0, &m->ram_hits));
	ck_assert_uint_eq(atomic_load(&m->backend_reads), 6);
}
END_TEST

/* Wait until counter (a metric the event thread moves after a reply)
 * reaches v. */
static void wait_for(_Atomic uint64_t *counter, uint64_t v)
{
	for (int i = 0; i < 5000 && atomic_load(counter) < v; i++)
		usleep(1000);
	ck_assert_uint_eq(atomic_load(counter), v);
}

/* The disk tier evicts by it too (RAM off: 2 block files fit); a block
 * the backend reads is one the disk did not have. */
START_TEST(test_fifo_on_disk)
{
	cn_server_opts_t opts = {
		.policies = extra, .n_policies = 1, .no_ram_tier = 1};
	char keys[1024], err[512];
	cn_metrics_t *m;

	snprintf(keys, sizeof(keys),
		 "ram_capacity = 4M\ndisk_path = %s/disk\n"
		 "disk_capacity = 136K\ndisk_min_free = 0\n",
		 tmp);
	ck_assert_msg(start(keys, "fifo", &opts, err, sizeof(err)) == 0, "%s",
		      err);
	m = cn_server_metrics(node.srv);
	for (uint64_t i = 0; i < 3; i++)
		ck_assert(read_moves(i, &m->backend_reads));
	wait_for(&m->disk_admitted, 3);
	ck_assert_uint_eq(atomic_load(&m->disk_evictions), 1); /* block 0 */
	ck_assert(!read_moves(1, &m->backend_reads));
	ck_assert(read_moves(3, &m->backend_reads));
	ck_assert(!read_moves(2, &m->backend_reads));
	ck_assert(read_moves(1, &m->backend_reads));
	wait_for(&m->disk_admitted, 5);
	ck_assert_uint_eq(atomic_load(&m->disk_evictions), 3);
	ck_assert_uint_eq(atomic_load(&m->disk_not_admitted), 0);
}
END_TEST

/* A policy the node does not know stops it, naming the line and what it
 * knows; so does a malformed extra table. */
START_TEST(test_unknown_policy)
{
	cn_server_opts_t opts = {.policies = extra, .n_policies = 1};
	cn_policy_ops_t bad = fifo_ops;
	const cn_policy_ops_t *bads[] = {&bad};
	char err[512];

	ck_assert_int_eq(start("", "nosuch", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "node.conf:11: [dataset ds] policy: unknown "
			      "policy 'nosuch' (known: auto, lru, pin)");
	ck_assert_int_eq(start("", "fifo", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(start("", "nosuch", &opts, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "(known: auto, lru, pin, fifo)"));
	bad.name = "lru"; /* would hide the built-in one */
	opts.policies = bads;
	ck_assert_int_eq(start("", "lru", &opts, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "extra policies are malformed"));
	bad = fifo_ops;
	bad.oldest = NULL;
	ck_assert_int_eq(start("", "fifo", &opts, err, sizeof(err)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s =
		TH_SUITE("cn_policy",
			 {.name = "policy",
			  .tests = TH_TESTS(
				  test_lru_order, test_pin_never_offers_victims,
				  test_capacity_never_exceeded_lru,
				  test_capacity_never_exceeded_pin,
				  test_capacity_never_exceeded_mixed,
				  test_shuffled_epochs_pin_beats_lru)},
			 {.name = "node",
			  .tests = TH_TESTS(test_fifo_in_ram, test_fifo_on_disk,
					    test_unknown_policy),
			  .timeout = 60,
			  .setup = node_setup,
			  .teardown = node_teardown});

	sl_log_init("test_cn_policy", SL_LOG_WARNING);
	return th_check_run(s, NULL);
}
