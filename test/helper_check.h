/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the one main() every Check suite shares, the table a suite
 * is declared by, and how a suite or a case that cannot run here says so.
 *
 * A skipped suite exits TH_SKIP (77, automake's convention); a skipped
 * case prints one line "SKIP: SUITE/CASE: WHY" on stdout and returns.  The
 * Makefile's test loops count both and print the reasons in their summary,
 * so a skip is never mistaken for a pass.
 */
#ifndef TH_CHECK_H
#define TH_CHECK_H

#include <check.h>

#define TH_SKIP 77

typedef struct th_check_opts {
	/* When set, every test's files go below a fresh directory
	 * $TMPDIR/sluice-TMP_TAG-XXXXXX (exported as TMPDIR) that this
	 * process, which outlives failing tests and their teardowns, removes
	 * at the end, unless SLUICE_KEEP_TMP is set. */
	const char *tmp_tag;
	/* Run once before the suite, in this process (signal handlers,
	 * shared mappings); returns 0, or an exit status to stop with. */
	int (*before)(void);
	/* Run once after the suite, in this process, whatever happened. */
	void (*after)(int failed);
} th_check_opts_t;

/*
 * One case of a suite, declared: its tests run in one TCase, under one
 * time limit and fixture.  A suite is a list of these (TH_SUITE), so that
 * each test file says which tests it has and how they run, and not how to
 * build a Check suite.
 */
typedef struct th_case {
	const char *name;	    /* the TCase's, as CK_RUN_CASE names it */
	const TTest *const *tests;  /* TH_TESTS(...), in running order */
	const TTest *const *looped; /* run first, each loops times (_i) */
	int loops;		    /* how many times each looped test runs */
	int timeout;		    /* seconds; 0: CK_DEFAULT_TIMEOUT's */
	SFun setup, teardown;	    /* checked: around each test, in its fork */
	SFun once_setup, once_teardown; /* unchecked: once, around the case */
} th_case_t;

/* The tests of a case (block scope: a START_TEST name is a variable). */
#define TH_TESTS(...) ((const TTest *const[]){__VA_ARGS__, NULL})

/*
 * Add the cases (an array ended by one whose name is NULL; borrowed) to
 * s, in order, and return s.
 */
Suite *th_suite_add(Suite *s, const th_case_t *cases);

/* The cases given (th_case_t initialisers), ended, for th_suite_add. */
#define TH_CASES(...) ((const th_case_t[]){__VA_ARGS__, {0}})

/* A new suite called name with the cases given. */
#define TH_SUITE(name, ...)                                                    \
	th_suite_add(suite_create(name), TH_CASES(__VA_ARGS__))

/*
 * Run suite s (transferred) in Check's fork mode and return what main()
 * should: 0 when every test passed, 1 otherwise, 2 when the run could not
 * be set up.  opts may be NULL.
 */
int th_check_run(Suite *s, const th_check_opts_t *opts);

/* Print "SKIP: suite: why" and return TH_SKIP, for main(). */
int th_check_skip_suite(const char *suite, const char *why);

/* Print "SKIP: suite/test: why"; the test then returns (and passes). */
void th_check_skip_case(const char *suite, const char *test, const char *why);

/* 1 when this process can mount FUSE filesystems (root, /dev/fuse). */
int th_have_fuse(void);
/* 1 when running as root. */
int th_is_root(void);

#endif
