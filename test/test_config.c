/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/config: a complete file read back key by key,
 * defaults, the size and duration parsers, and one test per kind of error,
 * each checking that the load fails with a message naming the file, the
 * right line and the key or section at fault.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
#include "test/helper_check.h"

/* Two lines: the smallest valid configuration. */
#define NODE_A "[node a]\naddr = tcp://127.0.0.1:7701\n"

/*
 * Parse text as "t.ini", expect failure, and a message that starts with
 * "t.ini:LINE: " and contains each of the given fragments.
 */
#define expect_error(text, line, ...)                                          \
	do_expect_error(__LINE__, text, line,                                  \
			(const char *const[]){__VA_ARGS__, NULL})

static void do_expect_error(int at, const char *text, int line,
			    const char *const *frags)
{
	char err[512] = "";
	char prefix[32];
	sl_config_t *c = sl_config_parse(text, "t.ini", err, sizeof(err));

	ck_assert_msg(c == NULL, "line %d: the load succeeded", at);
	snprintf(prefix, sizeof(prefix), "t.ini:%d: ", line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "line %d: message '%s' does not start with '%s'", at, err,
		      prefix);
	for (; *frags; frags++)
		ck_assert_msg(strstr(err, *frags),
			      "line %d: message '%s' lacks '%s'", at, err,
			      *frags);
}

static const char full_text[] =
	"; A cluster that sets every key.\n"	       /* 1 */
	"[cluster]\n"				       /* 2 */
	"name = prod-1\n"			       /* 3 */
	"module_dir = /opt/sluice/modules\n"	       /* 4 */
	"\n"					       /* 5 */
	"[node gpu-01]\n"			       /* 6 */
	"addr = tcp://10.0.0.1:7701\n"		       /* 7 */
	"weight = 2\n"				       /* 8 */
	"metrics_addr = 10.0.0.1:9101\n"	       /* 9 */
	"ram_capacity = 64G\n"			       /* 10 */
	"workers = 32\n"			       /* 11 */
	"disk_path = /nvme/sluice\n"		       /* 12 */
	"disk_capacity = 2T\n"			       /* 13 */
	"disk_min_free = 5%\n"			       /* 14 */
	"\n"					       /* 15 */
	"[node gpu-02]\n"			       /* 16 */
	"  addr = tcp://10.0.0.2:7701\n"	       /* 17 */
	"  disk_path = /nvme/sluice\n"		       /* 18 */
	"  disk_capacity = 1536GiB\n"		       /* 19 */
	"  disk_min_free = 100g\n"		       /* 20 */
	"\n"					       /* 21 */
	"[node gpu-03]   ; every default\n"	       /* 22 */
	"addr = ipc:///run/sluice/n3.sock\n"	       /* 23 */
	"\n"					       /* 24 */
	"# The example from DESIGN.md.\n"	       /* 25 */
	"[dataset imagenet]\n"			       /* 26 */
	"backend   = s3\n"			       /* 27 */
	"uri       = s3://training-data/imagenet/\n"   /* 28 */
	"endpoint  = http://10.0.0.5:9000\n"	       /* 29 */
	"region    = us-east-1\n"		       /* 30 */
	"credentials = /etc/sluice/s3.cred\n"	       /* 31 */
	"block_size = 8M\n"			       /* 32 */
	"policy     = pin          ; lru | pin\n"      /* 33 */
	"metadata_ttl = 0           ; 0 = immutable\n" /* 34 */
	"\n"					       /* 35 */
	"[dataset local.v2]\n"			       /* 36 */
	"backend = posix\n"			       /* 37 */
	"uri = /srv/data\n"			       /* 38 */
	"metadata_ttl = 500ms\n"		       /* 39 */
	"\n"					       /* 40 */
	"[dataset third_party]\n"		       /* 41 */
	"backend = my_store2\n"			       /* 42 */
	"uri = x://y?a=1#frag\n"		       /* 43 */
	"metadata_ttl = 5m\n"			       /* 44 */
	"policy = lru\n"			       /* 45 */
	"block_size = 4K\n"			       /* 46 */
	"\n"					       /* 47 */
	"[client]\n"				       /* 48 */
	"block_cache = 512M\n"			       /* 49 */
	"prefetch_depth = 16\n"			       /* 50 */
	"request_timeout = 1500ms\n"		       /* 51 */
	"down_backoff = 1m\n"			       /* 52 */
	"max_inodes = 5000\n"			       /* 53 */
	"metrics_addr = :9102\n";		       /* 54 */

static void check_full(const sl_config_t *c, const char *path)
{
	const sl_node_conf_t *n;
	const sl_dataset_conf_t *d;

	ck_assert_str_eq(c->path, path);
	ck_assert_str_eq(c->cluster_name, "prod-1");
	ck_assert_str_eq(c->module_dir, "/opt/sluice/modules");

	ck_assert_uint_eq(c->n_nodes, 3);
	n = &c->nodes[0];
	ck_assert_ptr_eq(sl_config_node(c, "gpu-01"), n);
	ck_assert_str_eq(n->name, "gpu-01");
	ck_assert_str_eq(n->addr, "tcp://10.0.0.1:7701");
	ck_assert_uint_eq(n->weight, 2);
	ck_assert_str_eq(n->metrics_addr, "10.0.0.1:9101");
	ck_assert_uint_eq(n->ram_capacity, 64ull << 30);
	ck_assert_uint_eq(n->workers, 32);
	ck_assert_str_eq(n->disk_path, "/nvme/sluice");
	ck_assert_uint_eq(n->disk_capacity, 2ull << 40);
	ck_assert_uint_eq(n->disk_min_free_pct, 5);
	ck_assert_uint_eq(n->disk_min_free, 0);
	ck_assert_int_eq(n->line, 6);

	n = &c->nodes[1];
	ck_assert_ptr_eq(sl_config_node(c, "gpu-02"), n);
	ck_assert_str_eq(n->addr, "tcp://10.0.0.2:7701");
	ck_assert_uint_eq(n->disk_capacity, 1536ull << 30);
	ck_assert_uint_eq(n->disk_min_free, 100ull << 30);
	ck_assert_uint_eq(n->disk_min_free_pct, 0);
	ck_assert_int_eq(n->line, 16);

	n = &c->nodes[2];
	ck_assert_str_eq(n->name, "gpu-03");
	ck_assert_str_eq(n->addr, "ipc:///run/sluice/n3.sock");
	ck_assert_uint_eq(n->weight, 1);
	ck_assert_str_eq(n->metrics_addr, "");
	ck_assert_uint_eq(n->ram_capacity, 1ull << 30);
	ck_assert_uint_eq(n->workers, 8);
	ck_assert_ptr_null(n->disk_path);
	ck_assert_uint_eq(n->disk_capacity, 0);
	ck_assert_uint_eq(n->disk_min_free_pct, 10);
	ck_assert_int_eq(n->line, 22);
	ck_assert_ptr_null(sl_config_node(c, "gpu-04"));

	ck_assert_uint_eq(c->n_datasets, 3);
	d = sl_config_dataset(c, "imagenet");
	ck_assert_ptr_eq(d, &c->datasets[0]);
	ck_assert_str_eq(d->name, "imagenet");
	ck_assert_str_eq(d->backend, "s3");
	ck_assert_str_eq(d->uri, "s3://training-data/imagenet/");
	ck_assert_uint_eq(d->block_size, 8u << 20);
	ck_assert_str_eq(d->policy, "pin");
	ck_assert_int_eq(d->policy_line, 33);
	ck_assert_uint_eq(d->metadata_ttl_ms, 0);
	ck_assert_int_eq(d->line, 26);
	ck_assert_uint_eq(d->n_params, 3);
	ck_assert_str_eq(d->params[0].key, "endpoint");
	ck_assert_str_eq(d->params[0].value, "http://10.0.0.5:9000");
	ck_assert_int_eq(d->params[0].line, 29);
	ck_assert_str_eq(d->params[1].key, "region");
	ck_assert_str_eq(d->params[1].value, "us-east-1");
	ck_assert_int_eq(d->params[1].line, 30);
	ck_assert_str_eq(d->params[2].key, "credentials");
	ck_assert_int_eq(d->params[2].line, 31);
	ck_assert_str_eq(sl_dataset_param(d, "credentials"),
			 "/etc/sluice/s3.cred");
	ck_assert_ptr_null(sl_dataset_param(d, "block_size"));
	ck_assert_ptr_null(sl_dataset_param(d, "nope"));

	d = sl_config_dataset(c, "local.v2");
	ck_assert_ptr_eq(d, &c->datasets[1]);
	ck_assert_str_eq(d->backend, "posix");
	ck_assert_str_eq(d->uri, "/srv/data");
	ck_assert_uint_eq(d->block_size, 4u << 20);
	ck_assert_str_eq(d->policy, "auto");
	ck_assert_int_eq(d->policy_line, 36); /* the default: the section */
	ck_assert_uint_eq(d->metadata_ttl_ms, 500);
	ck_assert_uint_eq(d->n_params, 0);
	ck_assert_int_eq(d->line, 36);

	d = sl_config_dataset(c, "third_party");
	ck_assert_str_eq(d->backend, "my_store2");
	ck_assert_str_eq(d->uri, "x://y?a=1#frag");
	ck_assert_uint_eq(d->metadata_ttl_ms, 5 * 60 * 1000);
	ck_assert_str_eq(d->policy, "lru");
	ck_assert_int_eq(d->policy_line, 45);
	ck_assert_uint_eq(d->block_size, 4096);
	ck_assert_ptr_null(sl_config_dataset(c, "imagenet2"));

	ck_assert_uint_eq(c->client.block_cache, 512ull << 20);
	ck_assert_uint_eq(c->client.prefetch_depth, 16);
	ck_assert_uint_eq(c->client.request_timeout_ms, 1500);
	ck_assert_uint_eq(c->client.down_backoff_ms, 60 * 1000);
	ck_assert_uint_eq(c->client.max_inodes, 5000);
	ck_assert_str_eq(c->client.metrics_addr, ":9102");
}

/* Every key of every section lands in the right field. */
START_TEST(test_full)
{
	char err[256] = "";
	sl_config_t *c =
		sl_config_parse(full_text, "full.ini", err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	check_full(c, "full.ini");
	sl_config_destroy(&c);
	ck_assert_ptr_null(c);
	sl_config_destroy(&c);
	sl_config_destroy(NULL);
}
END_TEST

/* One node and nothing else: every default. */
START_TEST(test_defaults)
{
	char err[256] = "";
	sl_config_t *c = sl_config_parse(NODE_A, "t.ini", err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->cluster_name, "sluice");
	ck_assert_ptr_null(c->module_dir);
	ck_assert_uint_eq(c->n_nodes, 1);
	ck_assert_uint_eq(c->nodes[0].weight, 1);
	ck_assert_uint_eq(c->n_datasets, 0);
	ck_assert_ptr_null(sl_config_dataset(c, "x"));
	ck_assert_uint_eq(c->client.block_cache, 256ull << 20);
	ck_assert_uint_eq(c->client.prefetch_depth, 4);
	ck_assert_uint_eq(c->client.page_size, 64u << 10);
	ck_assert_uint_eq(c->client.request_timeout_ms, 2000);
	ck_assert_uint_eq(c->client.down_backoff_ms, 5000);
	ck_assert_uint_eq(c->client.max_inodes, SL_MAX_INODES_DEFAULT);
	ck_assert_str_eq(c->client.metrics_addr, "");
	sl_config_destroy(&c);
}
END_TEST

/* CRLF, a byte order mark, tabs and no final newline read the same. */
START_TEST(test_dialect)
{
	char err[256] = "";
	sl_config_t *c = sl_config_parse(
		"\xef\xbb\xbf; comment\r\n[node a]\r\n\taddr\t=\t"
		"tcp://h:1\r\n\r\n[dataset d]\r\nbackend=posix\r\n"
		"uri=/x  # trailing comment\r\nkey.with-dots = a;b#c",
		"t.ini", err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->nodes[0].addr, "tcp://h:1");
	ck_assert_int_eq(c->nodes[0].line, 2);
	ck_assert_str_eq(c->datasets[0].uri, "/x");
	ck_assert_str_eq(sl_dataset_param(&c->datasets[0], "key.with-dots"),
			 "a;b#c");
	ck_assert_int_eq(c->datasets[0].params[0].line, 8);
	sl_config_destroy(&c);

	/* Line numbers still count after CRLF lines. */
	expect_error("[node a]\r\naddr = tcp://h:1\r\n\r\nbogus = 1\r\n", 4,
		     "[node a] bogus");
}
END_TEST

/* One string a parser of values is given, and what it must answer. */
typedef struct parse_case {
	const char *s;
	int ret;
	uint64_t v; /* the value, when ret is 0 */
} parse_case_t;

/* Run parse over the n cases (borrowed): each answers its ret, a value
 * only on success, and leaves the output alone on failure. */
static void expect_parses(int (*parse)(const char *, uint64_t *),
			  const parse_case_t *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 12345;
		int ret = parse(cases[i].s, &v);

		ck_assert_msg(ret == cases[i].ret, "'%s': %d, want %d",
			      cases[i].s, ret, cases[i].ret);
		if (ret == 0)
			ck_assert_msg(v == cases[i].v, "'%s': %llu", cases[i].s,
				      (unsigned long long)v);
		else
			ck_assert_uint_eq(v, 12345);
	}
}

START_TEST(test_parse_size)
{
	static const parse_case_t cases[] = {
		{"0", 0, 0},
		{"100", 0, 100},
		{"100B", 0, 100},
		{"512K", 0, 512ull << 10},
		{"512k", 0, 512ull << 10},
		{"4M", 0, 4ull << 20},
		{"4MB", 0, 4ull << 20},
		{"4MiB", 0, 4ull << 20},
		{"4mib", 0, 4ull << 20},
		{"4 MiB", 0, 4ull << 20},
		{"2G", 0, 2ull << 30},
		{"1T", 0, 1ull << 40},
		{"1tb", 0, 1ull << 40},
		{"2P", 0, 2ull << 50},
		{"18446744073709551615", 0, UINT64_MAX},
		{"16383P", 0, 16383ull << 50},
		{"18446744073709551616", -ERANGE, 0},
		{"16384P", -ERANGE, 0},
		{"17179869184G", -ERANGE, 0},
		{"", -EINVAL, 0},
		{"M", -EINVAL, 0},
		{"-1", -EINVAL, 0},
		{"+1", -EINVAL, 0},
		{" 1", -EINVAL, 0},
		{"1.5G", -EINVAL, 0},
		{"4X", -EINVAL, 0},
		{"4Mi", -EINVAL, 0},
		{"4iB", -EINVAL, 0},
		{"4MBB", -EINVAL, 0},
		{"0x10", -EINVAL, 0},
		{"99999999999999999999X", -EINVAL, 0},
	};

	expect_parses(sl_parse_size, cases, SL_ARRAY_SIZE(cases));
}
END_TEST

START_TEST(test_parse_duration)
{
	static const parse_case_t cases[] = {
		{"0", 0, 0},
		{"30", 0, 30000},
		{"500ms", 0, 500},
		{"500MS", 0, 500},
		{"2s", 0, 2000},
		{"5m", 0, 300000},
		{"1h", 0, 3600000},
		{"1d", 0, 86400000},
		{"18446744073709551615ms", 0, UINT64_MAX},
		{"18446744073709552s", -ERANGE, 0},
		{"99999999999999999999", -ERANGE, 0},
		{"", -EINVAL, 0},
		{"s", -EINVAL, 0},
		{"2x", -EINVAL, 0},
		{"2sec", -EINVAL, 0},
		{"1.5s", -EINVAL, 0},
		{"-1s", -EINVAL, 0},
		{"2mss", -EINVAL, 0},
	};

	expect_parses(sl_parse_duration_ms, cases, SL_ARRAY_SIZE(cases));
}
END_TEST

START_TEST(test_parse_uint_percent)
{
	uint64_t v = 7;

	ck_assert_int_eq(sl_parse_uint("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(sl_parse_uint("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(sl_parse_uint("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(sl_parse_uint("", &v), -EINVAL);
	ck_assert_int_eq(sl_parse_uint("12x", &v), -EINVAL);
	ck_assert_int_eq(sl_parse_uint("-1", &v), -EINVAL);
	ck_assert_int_eq(sl_parse_uint(NULL, &v), -EINVAL);
	ck_assert_int_eq(sl_parse_percent("10%", &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(sl_parse_percent("5 %", &v), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_int_eq(sl_parse_percent("5", &v), -EINVAL);
	ck_assert_int_eq(sl_parse_percent("5%%", &v), -EINVAL);
	ck_assert_int_eq(sl_parse_percent("%", &v), -EINVAL);
	ck_assert_int_eq(sl_parse_percent("99999999999999999999%", &v),
			 -ERANGE);
	{
		int b = -1;

		ck_assert_int_eq(sl_parse_bool("Yes", &b), 0);
		ck_assert_int_eq(b, 1);
		ck_assert_int_eq(sl_parse_bool("off", &b), 0);
		ck_assert_int_eq(b, 0);
		ck_assert_int_eq(sl_parse_bool("1", &b), 0);
		ck_assert_int_eq(b, 1);
		ck_assert_int_eq(sl_parse_bool("nope", &b), -EINVAL);
		ck_assert_int_eq(sl_parse_bool("", &b), -EINVAL);
		ck_assert_int_eq(sl_parse_bool(NULL, &b), -EINVAL);
	}
}
END_TEST

START_TEST(test_name_valid)
{
	char long_name[SL_NAME_MAX + 2];

	ck_assert(sl_name_valid("a"));
	ck_assert(sl_name_valid("gpu-01.rack_2"));
	ck_assert(sl_name_valid("..."));
	ck_assert(!sl_name_valid(""));
	ck_assert(!sl_name_valid(NULL));
	ck_assert(!sl_name_valid("."));
	ck_assert(!sl_name_valid(".."));
	ck_assert(!sl_name_valid("a b"));
	ck_assert(!sl_name_valid("a/b"));
	ck_assert(!sl_name_valid("caf\xc3\xa9"));
	memset(long_name, 'n', SL_NAME_MAX);
	long_name[SL_NAME_MAX] = '\0';
	ck_assert(sl_name_valid(long_name));
	long_name[SL_NAME_MAX] = 'n';
	long_name[SL_NAME_MAX + 1] = '\0';
	ck_assert(!sl_name_valid(long_name));
}
END_TEST

START_TEST(test_err_unknown_key)
{
	expect_error(NODE_A "wieght = 2\n", 3, "[node a] wieght", "unknown key",
		     "weight");
	expect_error("[cluster]\nnodes = 3\n" NODE_A, 2, "[cluster] nodes",
		     "unknown key");
	expect_error(NODE_A "\n[client]\nprefetch = 2\n", 5,
		     "[client] prefetch", "unknown key");
}
END_TEST

START_TEST(test_err_unknown_section)
{
	expect_error(NODE_A "\n[nodes b]\naddr = tcp://h:2\n", 4, "[nodes b]",
		     "unknown section");
	expect_error("[Cluster]\n" NODE_A, 1, "[Cluster]", "unknown section");
	expect_error("[]\n" NODE_A, 1, "[]", "unknown section");
}
END_TEST

START_TEST(test_err_bad_size)
{
	expect_error(NODE_A "ram_capacity = 4X\n", 3, "[node a] ram_capacity",
		     "'4X' is not a size");
	expect_error(NODE_A "[client]\nblock_cache = lots\n", 4,
		     "[client] block_cache", "not a size");
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "block_size = 1.5M\n",
		     6, "[dataset d] block_size", "not a size");
	expect_error(NODE_A "disk_path = /d\ndisk_capacity = 99999999999T\n", 4,
		     "[node a] disk_capacity", "too large");
	expect_error(NODE_A "ram_capacity = 0\n", 3, "[node a] ram_capacity",
		     "too small");
	expect_error(NODE_A "disk_path = /d\ndisk_capacity = 1G\n"
			    "disk_min_free = 10%%\n",
		     5, "[node a] disk_min_free", "not a percentage");
	expect_error(NODE_A "disk_path = /d\ndisk_capacity = 1G\n"
			    "disk_min_free = ten\n",
		     5, "[node a] disk_min_free", "not a size");
	expect_error(NODE_A "disk_path = /d\ndisk_capacity = 1G\n"
			    "disk_min_free = 100%\n",
		     5, "[node a] disk_min_free", "percentage");
}
END_TEST

START_TEST(test_err_bad_number)
{
	expect_error(NODE_A "weight = two\n", 3, "[node a] weight",
		     "'two' is not a number");
	expect_error(NODE_A "workers = -1\n", 3, "[node a] workers",
		     "not a number");
	expect_error(NODE_A "weight = 0\n", 3, "[node a] weight",
		     "out of range 1..100");
	expect_error(NODE_A "weight = 1001\n", 3, "[node a] weight",
		     "out of range");
	expect_error(NODE_A "workers = 257\n", 3, "[node a] workers",
		     "out of range 1..256");
	expect_error(NODE_A "weight = 99999999999999999999999\n", 3,
		     "[node a] weight", "out of range");
	expect_error(NODE_A "[client]\nprefetch_depth = 65\n", 4,
		     "[client] prefetch_depth", "out of range 0..64");
	expect_error(NODE_A "[client]\npage_size = 5000\n", 4,
		     "[client] page_size", "not a multiple of 4K");
	expect_error(NODE_A "[client]\npage_size = 128M\n", 4,
		     "[client] page_size", "out of range");
	expect_error(NODE_A "[client]\nprefetch_depth = 3.5\n", 4,
		     "[client] prefetch_depth", "not a number");
	expect_error(NODE_A "[client]\nmax_inodes = 999\n", 4,
		     "[client] max_inodes", "out of range 1000..100000000");
	expect_error(NODE_A "[client]\nmax_inodes = 1M\n", 4,
		     "[client] max_inodes", "not a number");
}
END_TEST

START_TEST(test_err_bad_duration)
{
	expect_error(NODE_A "[client]\nrequest_timeout = 2x\n", 4,
		     "[client] request_timeout", "not a duration");
	expect_error(NODE_A "[client]\nrequest_timeout = 0\n", 4,
		     "[client] request_timeout", "too short");
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "metadata_ttl = forever\n",
		     6, "[dataset d] metadata_ttl", "not a duration");
}
END_TEST

START_TEST(test_err_duplicate_node)
{
	expect_error(NODE_A "[node b]\naddr = tcp://h:2\n"
			    "[node a]\naddr = tcp://h:3\n",
		     5, "[node a]", "duplicate node name", "line 1");
}
END_TEST

START_TEST(test_err_duplicate_dataset)
{
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "[dataset e]\nbackend = posix\nuri = /y\n"
			    "\n[dataset d]\nbackend = posix\nuri = /z\n",
		     10, "[dataset d]", "duplicate dataset name", "line 3");
	/* Nodes and datasets are separate namespaces. */
	{
		char err[256] = "";
		sl_config_t *c = sl_config_parse(
			NODE_A "[dataset a]\nbackend = posix\nuri = /x\n",
			"t.ini", err, sizeof(err));

		ck_assert_msg(c != NULL, "%s", err);
		sl_config_destroy(&c);
	}
}
END_TEST

START_TEST(test_err_duplicate_key)
{
	expect_error(NODE_A "weight = 1\nweight = 2\n", 4, "[node a] weight",
		     "duplicate key", "line 3");
	expect_error(NODE_A "addr = tcp://h:9\n", 3, "[node a] addr",
		     "duplicate key", "line 2");
	/* Backend parameters too. */
	expect_error(NODE_A "[dataset d]\nbackend = s3\nuri = s3://b/\n"
			    "region = a\nregion = b\n",
		     7, "[dataset d] region", "duplicate key", "line 6");
	/* And [cluster] / [client], which can be given once. */
	expect_error("[client]\n" NODE_A "[client]\n", 4, "[client]",
		     "duplicate section", "line 1");
}
END_TEST

START_TEST(test_err_duplicate_addr)
{
	expect_error(NODE_A "[node b]\naddr = tcp://127.0.0.1:7701\n", 4,
		     "[node b] addr", "already the address of [node a]");
	expect_error("[node a]\naddr = tcp://h:1\nmetrics_addr = h:9101\n"
		     "[node b]\naddr = tcp://h:2\nmetrics_addr = h:9101\n",
		     6, "[node b] metrics_addr", "[node a]");
}
END_TEST

START_TEST(test_err_missing_addr)
{
	/* Named at the section header's line, also for the last section. */
	expect_error("[cluster]\nname = c\n\n[node a]\nweight = 2\n\n"
		     "[node b]\naddr = tcp://h:2\n",
		     4, "[node a] addr", "missing");
	expect_error(NODE_A "[node b]\nweight = 2\n", 3, "[node b] addr",
		     "missing");
	expect_error(NODE_A "[node b]\naddr =\n", 4, "[node b] addr",
		     "missing value");
}
END_TEST

START_TEST(test_err_missing_backend)
{
	expect_error(NODE_A "\n[dataset d]\nuri = /x\n\n[client]\n", 4,
		     "[dataset d] backend", "missing");
	expect_error(NODE_A "[dataset d]\n", 3, "[dataset d] backend",
		     "missing");
}
END_TEST

START_TEST(test_err_missing_uri)
{
	expect_error(NODE_A "[dataset d]\nbackend = posix\n[dataset e]\n"
			    "backend = posix\nuri = /e\n",
		     3, "[dataset d] uri", "missing");
}
END_TEST

START_TEST(test_err_invalid_name)
{
	expect_error(NODE_A "[node b/c]\naddr = tcp://h:2\n", 3, "[node b/c]",
		     "invalid node name 'b/c'");
	expect_error(NODE_A "[dataset my data]\n", 3, "[dataset my data]",
		     "invalid dataset name");
	expect_error(NODE_A "[dataset ..]\n", 3, "invalid dataset name '..'");
	expect_error(NODE_A "[node]\n", 3, "[node]", "missing name");
	expect_error(NODE_A "[client x]\n", 3, "[client x]", "takes no name");
	expect_error("[cluster]\nname = my cluster\n" NODE_A, 2,
		     "[cluster] name", "invalid name");
	expect_error(NODE_A "[dataset d]\nbackend = S3\n", 4,
		     "[dataset d] backend", "invalid backend name 'S3'");
}
END_TEST

/* Which policies exist is the node's to say; the config only checks that
 * the value can be a policy's name. */
START_TEST(test_err_bad_policy)
{
	char err[512];
	sl_config_t *c;

	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "policy = Fifo!\n",
		     6, "[dataset d] policy", "invalid policy name 'Fifo!'");
	c = sl_config_parse(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
				   "policy = fifo\n",
			    "t.ini", err, sizeof(err));
	ck_assert_msg(c, "%s", err);
	ck_assert_str_eq(c->datasets[0].policy, "fifo");
	ck_assert_int_eq(c->datasets[0].policy_line, 6);
	sl_config_destroy(&c);
}
END_TEST

START_TEST(test_err_block_size_range)
{
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "block_size = 2K\n",
		     6, "[dataset d] block_size", "out of range 4K..64M");
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "block_size = 128M\n",
		     6, "[dataset d] block_size", "out of range");
}
END_TEST

START_TEST(test_err_no_nodes)
{
	expect_error("[cluster]\nname = x\n[dataset d]\nbackend = posix\n"
		     "uri = /x\n",
		     5, "no [node NAME] section");
	expect_error("", 1, "no [node NAME] section");
	expect_error("; only a comment\n\n", 2, "no [node NAME]");
}
END_TEST

/* A ring holds at most SL_RING_MAX_WEIGHT units of weight (2048). */
START_TEST(test_err_total_weight)
{
	char text[8192] = "";
	size_t len = 0;
	sl_config_t *c;
	char err[512];

	for (int i = 0; i < 21; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"[node n%d]\naddr = tcp://h:%d\n"
					"weight = %d\n",
					i, 1000 + i, i < 20 ? 100 : 48);
	c = sl_config_parse(text, "t.ini", err, sizeof(err));
	ck_assert_msg(c, "%s", err); /* 2048: the limit itself */
	sl_config_destroy(&c);
	snprintf(text + len, sizeof(text) - len,
		 "[node last]\naddr = tcp://h:9\n");
	expect_error(text, 64, "[node last] weight", "more than 2048");
}
END_TEST

START_TEST(test_err_bad_addr)
{
	expect_error("[node a]\naddr = 127.0.0.1:7701\n", 2, "[node a] addr",
		     "not an endpoint");
	expect_error("[node a]\naddr = tcp://127.0.0.1\n", 2, "[node a] addr",
		     "port");
	expect_error("[node a]\naddr = tcp://h:70000\n", 2, "[node a] addr",
		     "port");
	expect_error("[node a]\naddr = udp://h:1\n", 2, "[node a] addr",
		     "unsupported transport");
	expect_error(NODE_A "metrics_addr = 9101\n", 3, "[node a] metrics_addr",
		     "HOST:PORT");
	expect_error(NODE_A "[client]\nmetrics_addr = 9102\n", 4,
		     "[client] metrics_addr", "HOST:PORT or :PORT");
	expect_error(NODE_A "[client]\nmetrics_addr = :0\n", 4,
		     "[client] metrics_addr", "1..65535");
	expect_error(NODE_A "[client]\nmetrics_addr = :\n", 4,
		     "[client] metrics_addr", "HOST:PORT");
	expect_error(NODE_A "disk_path = nvme\n", 3, "[node a] disk_path",
		     "absolute");
	expect_error(NODE_A "disk_path = /nvme\n", 1, "[node a] disk_capacity",
		     "missing");
	expect_error(NODE_A "disk_capacity = 1T\n", 3, "[node a] disk_capacity",
		     "without disk_path");
}
END_TEST

START_TEST(test_err_syntax)
{
	expect_error("addr = tcp://h:1\n" NODE_A, 1, "addr",
		     "outside any section");
	expect_error(NODE_A "weight 2\n", 3, "[node a]",
		     "expected 'key = value'");
	expect_error(NODE_A "[node b\naddr = tcp://h:2\n", 3, "closing ']'");
	expect_error(NODE_A "= 2\n", 3, "invalid key ''");
}
END_TEST

/* Write text to a fresh temporary file; returns its path (caller frees and
 * unlinks). */
static char *write_temp(const char *text, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char *path = malloc(4096);
	int fd;

	ck_assert_ptr_nonnull(path);
	snprintf(path, 4096, "%s/test_config.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	return path;
}

START_TEST(test_load_file)
{
	char err[512] = "";
	char want[4200];
	char *path = write_temp(full_text, strlen(full_text));
	sl_config_t *c = sl_config_load(path, err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	check_full(c, path);
	sl_config_destroy(&c);
	unlink(path);
	free(path);

	/* Errors from a file name the file. */
	path = write_temp(NODE_A "\nweight = heavy\n", strlen(NODE_A) + 16);
	c = sl_config_load(path, err, sizeof(err));
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s:4: [node a] weight: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got '%s'", err);
	unlink(path);
	free(path);

	/* A NUL byte, named with its line. */
	path = write_temp(NODE_A "x\0y\n", strlen(NODE_A) + 4);
	c = sl_config_load(path, err, sizeof(err));
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s:3: NUL byte", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got '%s'", err);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_load_missing)
{
	char err[512] = "";
	sl_config_t *c;

	c = sl_config_load("/nonexistent/sluice.ini", err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, "/nonexistent/sluice.ini: cannot open: "
			      "No such file or directory");

	c = sl_config_load("/", err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, "/: cannot read: Is a directory");

	/* A NULL or empty err buffer is allowed. */
	ck_assert_ptr_null(sl_config_load("/nonexistent/x.ini", NULL, 0));
	ck_assert_ptr_null(sl_config_parse("", "t.ini", err, 0));
}
END_TEST

/* membership = etcd: no [node] needed, etcd required, the prefix's
 * default from the cluster's name, [node-defaults] for the nodes that
 * come on the command line (sl_config_add_node), replicas. */
START_TEST(test_etcd_membership)
{
	static const char text[] =
		"[cluster]\nname = k8s\nmembership = etcd\n"
		"etcd = http://10.0.0.9:2379, http://10.0.0.10:2379\n"
		"lease_ttl = 3s\n"
		"[node-defaults]\nram_capacity = 2G\nworkers = 3\n"
		"disk_path = /nvme\ndisk_capacity = 1T\n"
		"[dataset d]\nbackend = posix\nuri = /x\nreplicas = 2\n";
	char err[256] = "";
	sl_config_t *c = sl_config_parse(text, "t.ini", err, sizeof(err));
	const sl_node_conf_t *n;

	ck_assert_msg(c, "%s", err);
	ck_assert_int_eq(c->membership, SL_MEMBERSHIP_ETCD);
	ck_assert_str_eq(c->etcd,
			 "http://10.0.0.9:2379, http://10.0.0.10:2379");
	ck_assert_str_eq(c->etcd_prefix, "/sluice/k8s/");
	ck_assert_uint_eq(c->lease_ttl_ms, 3000);
	ck_assert_uint_eq(c->n_nodes, 0);
	ck_assert_uint_eq(c->datasets[0].replicas, 2);
	ck_assert_int_eq(sl_config_add_node(c, "gpu7", "tcp://10.0.0.7:7701",
					    "10.0.0.7:9101", err, sizeof(err)),
			 0);
	n = sl_config_node(c, "gpu7");
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(n->addr, "tcp://10.0.0.7:7701");
	ck_assert_str_eq(n->metrics_addr, "10.0.0.7:9101");
	ck_assert_uint_eq(n->ram_capacity, 2ull << 30);
	ck_assert_uint_eq(n->workers, 3);
	ck_assert_str_eq(n->disk_path, "/nvme");
	ck_assert_uint_eq(n->weight, 1);
	/* A bad address and a second gpu7 are refused, the first stays. */
	ck_assert_int_eq(sl_config_add_node(c, "gpu8", "10.0.0.8:7701", NULL,
					    err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--addr"));
	ck_assert_int_eq(sl_config_add_node(c, "gpu7", "tcp://10.0.0.8:1", NULL,
					    err, sizeof(err)),
			 -EINVAL);
	ck_assert_uint_eq(c->n_nodes, 1);
	sl_config_destroy(&c);

	/* Static membership: a node given on the command line is refused;
	 * defaults: static, lease 10 s, no etcd, replicas 1. */
	c = sl_config_parse("[cluster]\ngeneration = 42\n[node a]\n"
			    "addr = tcp://h:1\n[dataset d]\nbackend = posix\n"
			    "uri = /x\n",
			    "t.ini", err, sizeof(err));
	ck_assert_msg(c, "%s", err);
	ck_assert_int_eq(c->membership, SL_MEMBERSHIP_STATIC);
	ck_assert_uint_eq(c->generation, 42);
	ck_assert_uint_eq(c->lease_ttl_ms, 10000);
	ck_assert_ptr_null(c->etcd);
	ck_assert_uint_eq(c->datasets[0].replicas, 1);
	ck_assert_int_eq(
		sl_config_add_node(c, "b", "tcp://h:2", NULL, err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "membership = etcd"));
	sl_config_destroy(&c);
}
END_TEST

START_TEST(test_err_membership)
{
	expect_error("[cluster]\nmembership = gossip\n" NODE_A, 2,
		     "[cluster] membership", "static or etcd");
	expect_error("[cluster]\nmembership = etcd\n", 2,
		     "[cluster] membership", "needs etcd = http://");
	expect_error("[cluster]\nmembership = etcd\netcd = ftp://x\n", 3,
		     "[cluster] etcd", "http://HOST:PORT");
	expect_error("[cluster]\netcd = http://x:1\n" NODE_A, 2,
		     "[cluster] etcd", "membership is static");
	expect_error("[cluster]\netcd_prefix = sluice/\n" NODE_A, 2,
		     "[cluster] etcd_prefix", "does not start with '/'");
	expect_error("[cluster]\nlease_ttl = 200ms\n" NODE_A, 2,
		     "[cluster] lease_ttl", "too short");
	expect_error("[cluster]\ngeneration = 0\n" NODE_A, 2,
		     "[cluster] generation", "at least 1");
	expect_error("[cluster]\nmembership = etcd\netcd = http://x:1\n"
		     "[node-defaults]\naddr = tcp://h:1\n",
		     5, "[node-defaults] addr", "unknown key", "workers");
	expect_error("[node-defaults]\nworkers = 1\n[node-defaults]\n" NODE_A,
		     3, "[node-defaults]", "duplicate section");
	expect_error("[node-defaults]\ndisk_path = /d\n" NODE_A, 1,
		     "[node-defaults] disk_capacity", "missing");
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = /x\n"
			    "replicas = 4\n",
		     6, "[dataset d] replicas", "1..3");
}
END_TEST

/* [cluster] security and the keys that go with it. */
START_TEST(test_security_keys)
{
	static const char text[] =
		"[cluster]\nsecurity = curve\nallowed_clients = /k/clients\n"
		"[node a]\naddr = tcp://10.0.0.1:7701\n"
		"secret_key = /k/a.key\npublic_key = /k/a.pub\n"
		"[dataset d]\nbackend = posix\nuri = file:///d\n"
		"allow = alice, bob ,carol\n"
		"[client]\nsecret_key = /k/alice.key\n";
	char err[512];
	sl_config_t *c = sl_config_parse(text, "t.ini", err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->security, SL_SECURITY_CURVE);
	ck_assert_str_eq(c->allowed_clients, "/k/clients");
	ck_assert_str_eq(c->nodes[0].secret_key, "/k/a.key");
	ck_assert_str_eq(c->nodes[0].public_key, "/k/a.pub");
	ck_assert_str_eq(c->client.secret_key, "/k/alice.key");
	ck_assert_int_eq(c->datasets[0].has_allow, 1);
	ck_assert_uint_eq(c->datasets[0].n_allow, 3);
	ck_assert_str_eq(c->datasets[0].allow[1], "bob");
	ck_assert_uint_eq(c->datasets[0].n_params, 0);
	sl_config_destroy(&c);
	c = sl_config_parse(NODE_A, "t.ini", err, sizeof(err));
	ck_assert_int_eq(c->security, SL_SECURITY_LOOPBACK);
	sl_config_destroy(&c);
	expect_error("[cluster]\nsecurity = tls\n" NODE_A, 2,
		     "[cluster] security", "curve, none or loopback");
	expect_error("[cluster]\nsecurity = curve\n" NODE_A, 3,
		     "[node a] public_key", "missing");
	expect_error(NODE_A "[dataset d]\nbackend = posix\nuri = file:///d\n"
			    "allow = alice\n",
		     3, "[dataset d] allow", "needs security = curve");
	expect_error("[cluster]\nsecurity = curve\n"
		     "[node a]\naddr = tcp://10.0.0.1:7701\npublic_key = /a\n"
		     "[dataset d]\nbackend = posix\nuri = file:///d\n"
		     "allow = alice, al/ice\n",
		     9, "[dataset d] allow", "invalid key name 'al/ice'");
	expect_error("[cluster]\nsecurity = curve\n"
		     "[node a]\naddr = tcp://10.0.0.1:7701\npublic_key = /a\n"
		     "[dataset d]\nbackend = posix\nuri = file:///d\n"
		     "allow = alice, alice\n",
		     9, "[dataset d] allow", "listed twice");
}
END_TEST

static Suite *config_suite(void)
{
	return TH_SUITE(
		"config",
		{.name = "valid",
		 .tests = TH_TESTS(test_full, test_security_keys, test_defaults,
				   test_dialect, test_parse_size,
				   test_parse_duration, test_parse_uint_percent,
				   test_name_valid, test_load_file,
				   test_load_missing, test_etcd_membership)},
		{.name = "errors",
		 .tests = TH_TESTS(
			 test_err_unknown_key, test_err_unknown_section,
			 test_err_bad_size, test_err_bad_number,
			 test_err_bad_duration, test_err_duplicate_node,
			 test_err_duplicate_dataset, test_err_duplicate_key,
			 test_err_duplicate_addr, test_err_missing_addr,
			 test_err_missing_backend, test_err_missing_uri,
			 test_err_invalid_name, test_err_bad_policy,
			 test_err_block_size_range, test_err_no_nodes,
			 test_err_total_weight, test_err_bad_addr,
			 test_err_syntax, test_err_membership)});
}

int main(void)
{
	return th_check_run(config_suite(), NULL);
}
