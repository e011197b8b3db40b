/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared Check runner, suites built from their tables, and skip
 * reporting (see helper_check.h).
 */
#include "test/helper_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test/helper_proc.h"

Suite *th_suite_add(Suite *s, const th_case_t *cases)
{
	for (const th_case_t *c = cases; c->name; c++) {
		TCase *tc = tcase_create(c->name);

		if (c->setup || c->teardown)
			tcase_add_checked_fixture(tc, c->setup, c->teardown);
		if (c->once_setup || c->once_teardown)
			tcase_add_unchecked_fixture(tc, c->once_setup,
						    c->once_teardown);
		if (c->timeout)
			tcase_set_timeout(tc, c->timeout);
		for (const TTest *const *t = c->looped; t && *t; t++)
			tcase_add_loop_test(tc, *t, 0, c->loops);
		for (const TTest *const *t = c->tests; t && *t; t++)
			tcase_add_test(tc, *t);
		suite_add_tcase(s, tc);
	}
	return s;
}

int th_check_run(Suite *s, const th_check_opts_t *opts)
{
	th_check_opts_t none = {0};
	char *base = NULL;
	SRunner *sr;
	int failed, rc;

	if (!opts)
		opts = &none;
	if (opts->tmp_tag) {
		base = th_tmpdir(opts->tmp_tag);
		if (!base || setenv("TMPDIR", base, 1) < 0) {
			fprintf(stderr, "cannot make a temporary directory\n");
			free(base);
			return 2;
		}
	}
	if (opts->before) {
		rc = opts->before();
		if (rc != 0) {
			if (base)
				th_rmtree(base);
			free(base);
			return rc;
		}
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (opts->after)
		opts->after(failed);
	if (base) {
		if (getenv("SLUICE_KEEP_TMP") || failed)
			fprintf(stderr, "files kept in %s\n", base);
		else
			th_rmtree(base);
		free(base);
	}
	return failed ? 1 : 0;
}

int th_check_skip_suite(const char *suite, const char *why)
{
	printf("SKIP: %s: %s\n", suite, why);
	fflush(stdout);
	return TH_SKIP;
}

void th_check_skip_case(const char *suite, const char *test, const char *why)
{
	printf("SKIP: %s/%s: %s\n", suite, test, why);
	fflush(stdout);
}

int th_is_root(void)
{
	return geteuid() == 0;
}

int th_have_fuse(void)
{
	return th_is_root() && access("/dev/fuse", R_OK | W_OK) == 0;
}
