/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What policy each node has a dataset under, and why, for `sluicectl
 * dataset`: the node's STATS carry sluice_dataset_policy{dataset,policy}
 * (1 for the policy in effect) and, for `policy = auto`,
 * sluice_dataset_auto{dataset,why}, sluice_dataset_owned_bytes and
 * sluice_dataset_usable_bytes (cachenode/autopolicy.h).  A node that
 * names none of them (an older one) leaves the policy unknown.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "ctl/ctl.h"
#include "proto/proto.h"

/* Whether n is family{dataset="ds",KEY="VALUE"} with any VALUE, which
 * goes into val (cap bytes); key NULL: family{dataset="ds"}. */
static int match(pr_str_t n, const char *family, const char *ds,
		 const char *key, char *val, size_t cap)
{
	char head[SL_NAME_MAX + 128];
	size_t hl, vl;
	int len =
		snprintf(head, sizeof(head), "%s{dataset=\"%s\"%s%s%s", family,
			 ds, key ? "," : "}", key ? key : "", key ? "=\"" : "");

	if (len < 0 || (size_t)len >= sizeof(head))
		return 0;
	hl = (size_t)len;
	if (n.len < hl || memcmp(n.ptr, head, hl) != 0)
		return 0;
	if (!key)
		return n.len == hl;
	/* The rest is VALUE"} */
	if (n.len < hl + 2 || memcmp(n.ptr + n.len - 2, "\"}", 2) != 0)
		return 0;
	vl = n.len - hl - 2;
	if (vl + 1 > cap)
		return 0;
	memcpy(val, n.ptr + hl, vl);
	val[vl] = '\0';
	return 1;
}

void ctl_node_policy(ctl_t *c, size_t idx, const char *ds, ctl_policy_t *out)
{
	pr_stats_t st = {0};
	pr_msg_t m;
	char v[SL_POLICY_MAX + 1];

	memset(out, 0, sizeof(*out));
	pr_msg_init(&m);
	if (ctl_call(c, idx, PR_OP_STATS, NULL, 0, &m) == 0 &&
	    pr_stats_decode(&st, pr_msg_body(&m), pr_msg_body_len(&m)) == 0) {
		for (uint32_t i = 0; i < st.n_items; i++) {
			pr_str_t n = st.items[i].name;
			uint64_t val = st.items[i].value;

			if (match(n, "sluice_dataset_policy", ds, "policy", v,
				  sizeof(v)) &&
			    val == 1)
				sl_strlcpy(out->policy, v, sizeof(out->policy));
			else if (match(n, "sluice_dataset_auto", ds, "why",
				       out->why, sizeof(out->why)))
				out->is_auto = 1;
			else if (match(n, "sluice_dataset_owned_bytes", ds,
				       NULL, NULL, 0))
				out->owned = val;
			else if (match(n, "sluice_dataset_usable_bytes", ds,
				       NULL, NULL, 0))
				out->usable = val;
		}
	}
	pr_stats_free(&st);
	pr_msg_close(&m);
}

const char *ctl_policy_text(const ctl_policy_t *p, char *buf, size_t cap)
{
	char a[32], b[32];

	if (!p->policy[0])
		snprintf(buf, cap, "?");
	else if (!p->is_auto)
		snprintf(buf, cap, "%s", p->policy);
	else if (strcmp(p->why, "unknown") == 0)
		snprintf(buf, cap, "auto -> %s (size unknown until a walk)",
			 p->policy);
	else
		snprintf(buf, cap, "auto -> %s (%s: owns %s of %s usable)",
			 p->policy, p->why, ctl_human(p->owned, a, sizeof(a)),
			 ctl_human(p->usable, b, sizeof(b)));
	return buf;
}

void ctl_policy_json(const ctl_policy_t *p)
{
	if (!p->policy[0]) {
		printf(",\"policy\":null");
		return;
	}
	printf(",\"policy\":\"%s\"", p->policy);
	if (p->is_auto)
		printf(",\"auto\":{\"why\":\"%s\",\"owned_bytes\":%" PRIu64
		       ",\"usable_bytes\":%" PRIu64 "}",
		       p->why, p->owned, p->usable);
	else
		printf(",\"auto\":null");
}
