/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared Check runner and skip reporting (see helper_check.h).
 */
#include "test/helper_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test/helper_proc.h"

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
