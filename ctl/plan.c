/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl plan JOBS.json: an order for queued jobs that reuses the
 * cache.  JOBS.json is an array of {"name", "dataset", "epochs"}.
 *
 * The plan.  Jobs that share a dataset run back to back, so the dataset
 * is read from the backend once for all of them; the groups go in order
 * of how much of their dataset is cached now (the nodes' counts, as
 * `sluicectl datasets` shows), most first, so the cached one is used
 * before another evicts it; ties keep the queue's order, and so do the
 * jobs within a group.
 *
 * The estimate.  Both orders are replayed against a model of the cluster:
 * its capacity (every node's RAM for blocks, or its disk when larger)
 * holds whole datasets, least recently used out first; a job reads what
 * of its dataset is not held from the backend on its first epoch, and on
 * every epoch after that only if the dataset does not fit (a shuffled
 * epoch over a dataset larger than the cache reads its uncached part
 * again each time).  It is a model, not a measurement: it says which
 * order reads less, and about how much.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ctl/ctl.h"

#define MAX_JOBS 4096

typedef struct job {
	char name[128];
	int ds; /* index into the config's datasets */
	int epochs;
} job_t;

typedef struct dsinfo {
	uint64_t bytes, held;
	double cached; /* fraction */
	int first;     /* queue position of its first job */
} dsinfo_t;

/* The jobs of path into *jobs: their count, or -1 with a message. */
static int read_jobs(ctl_t *c, const char *path, job_t **jobs)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	size_t n;
	int bad = 0;

	if (!root || !json_is_array(root)) {
		fprintf(stderr, "sluicectl: %s: %s\n", path,
			root ? "not a JSON array of jobs" : je.text);
		json_decref(root);
		return -1;
	}
	n = json_array_size(root);
	if (n > MAX_JOBS) {
		fprintf(stderr, "sluicectl: %s: %zu jobs, at most %d\n", path,
			n, MAX_JOBS);
		json_decref(root);
		return -1;
	}
	*jobs = sl_xcalloc(n + 1, sizeof(**jobs));
	for (size_t i = 0; i < n && !bad; i++) {
		json_t *j = json_array_get(root, i);
		const char *name =
			json_string_value(json_object_get(j, "name"));
		const char *ds =
			json_string_value(json_object_get(j, "dataset"));
		json_t *ep = json_object_get(j, "epochs");
		const sl_dataset_conf_t *dc =
			ds ? sl_config_dataset(c->conf, ds) : NULL;

		if (!name || !ds || (ep && !json_is_integer(ep)) ||
		    (ep && (json_integer_value(ep) < 1 ||
			    json_integer_value(ep) > 100000))) {
			fprintf(stderr,
				"sluicectl: %s: job %zu needs \"name\", "
				"\"dataset\" and \"epochs\" (1..100000)\n",
				path, i + 1);
			bad = 1;
		} else if (!dc) {
			fprintf(stderr,
				"sluicectl: %s: job %s: unknown dataset '%s'\n",
				path, name, ds);
			bad = 1;
		} else {
			snprintf((*jobs)[i].name, sizeof((*jobs)[i].name), "%s",
				 name);
			(*jobs)[i].ds = (int)(dc - c->conf->datasets);
			(*jobs)[i].epochs =
				ep ? (int)json_integer_value(ep) : 1;
		}
	}
	json_decref(root);
	if (bad) {
		free(*jobs);
		*jobs = NULL;
		return -1;
	}
	return (int)n;
}

/* Backend bytes of running order[0..n) of jobs on a cluster of capacity
 * cap that holds held[d] of dataset d now (whole datasets, LRU). */
static uint64_t replay(const job_t *jobs, const int *order, int n,
		       const dsinfo_t *info, size_t nds, uint64_t cap)
{
	uint64_t *held = sl_xcalloc(nds + 1, sizeof(*held));
	uint64_t *used = sl_xcalloc(nds + 1, sizeof(*used)); /* last use */
	uint64_t total = 0, clock = 0;

	for (size_t d = 0; d < nds; d++) {
		held[d] = info[d].held;
		used[d] = held[d] ? 1 : 0;
	}
	for (int k = 0; k < n; k++) {
		const job_t *j = &jobs[order[k]];
		uint64_t size = info[j->ds].bytes, fits = SL_MIN(size, cap);
		uint64_t sum = 0;

		total += size - SL_MIN(held[j->ds], size);
		if (size > cap) /* later epochs miss what does not fit */
			total += (uint64_t)(j->epochs - 1) * (size - cap);
		/* It now holds what fits; others give way, least recent
		 * first. */
		held[j->ds] = fits;
		used[j->ds] = ++clock + 1;
		for (size_t d = 0; d < nds; d++)
			sum += held[d];
		while (sum > cap) {
			size_t victim = nds;

			for (size_t d = 0; d < nds; d++)
				if ((int)d != j->ds && held[d] &&
				    (victim == nds || used[d] < used[victim]))
					victim = d;
			if (victim == nds)
				break;
			sum -= held[victim];
			held[victim] = 0;
		}
	}
	free(held);
	free(used);
	return total;
}

/* The plan as a table and the estimate's line; 0. */
static int print_table(ctl_t *c, const job_t *jobs, const int *plan, int n,
		       const dsinfo_t *info, uint64_t plan_bytes,
		       uint64_t fifo_bytes, uint64_t cap)
{
	char a[32], b[32], cs[32];

	printf("%-4s %-24s %-16s %6s %8s\n", "#", "JOB", "DATASET", "EPOCHS",
	       "CACHED%");
	for (int i = 0; i < n; i++) {
		const job_t *j = &jobs[plan[i]];

		printf("%-4d %-24s %-16s %6d %7.1f%%\n", i + 1, j->name,
		       c->conf->datasets[j->ds].name, j->epochs,
		       100 * info[j->ds].cached);
	}
	printf("estimated backend reads: %s in this order, %s in the queue's "
	       "(capacity %s)\n",
	       ctl_human(plan_bytes, a, sizeof(a)),
	       ctl_human(fifo_bytes, b, sizeof(b)),
	       ctl_human(cap, cs, sizeof(cs)));
	return 0;
}

/* The same as one JSON object, for tools (bench/plan.sh runs the order it
 * gives): {"order": [{job, dataset, epochs, cached}...], the estimate's
 * bytes}; 0, or 1 when it cannot be encoded. */
static int print_json(ctl_t *c, const job_t *jobs, const int *plan, int n,
		      const dsinfo_t *info, uint64_t plan_bytes,
		      uint64_t fifo_bytes, uint64_t cap)
{
	json_t *root = json_object(), *order = json_array();
	int rc = 1;

	for (int i = 0; i < n; i++) {
		const job_t *j = &jobs[plan[i]];

		json_array_append_new(order,
				      json_pack("{s:s, s:s, s:i, s:f}", "job",
						j->name, "dataset",
						c->conf->datasets[j->ds].name,
						"epochs", j->epochs, "cached",
						info[j->ds].cached));
	}
	json_object_set_new(root, "order", order);
	json_object_set_new(root, "planned_backend_bytes",
			    json_integer((json_int_t)plan_bytes));
	json_object_set_new(root, "queue_backend_bytes",
			    json_integer((json_int_t)fifo_bytes));
	json_object_set_new(root, "capacity_bytes",
			    json_integer((json_int_t)cap));
	if (json_dumpf(root, stdout, JSON_COMPACT) == 0) {
		putchar('\n');
		rc = 0;
	}
	json_decref(root);
	return rc;
}

int ctl_cmd_plan(ctl_t *c, int argc, char **argv)
{
	size_t nds = c->conf->n_datasets;
	dsinfo_t *info = sl_xcalloc(nds + 1, sizeof(*info));
	ctl_held_t *h = sl_xcalloc(c->n_nodes + 1, sizeof(*h));
	uint64_t cap = 0, fifo_bytes, plan_bytes;
	int *fifo = NULL, *plan = NULL, n, k = 0, rc = 1;
	job_t *jobs = NULL;
	const char *path = NULL;
	int json = 0, bad = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else
			bad = 1;
	}
	if (!path || bad) {
		fprintf(stderr, "sluicectl: plan JOBS.json [--json]\n");
		goto out;
	}
	n = read_jobs(c, path, &jobs);
	if (n < 0)
		goto out;
	for (size_t i = 0; i < c->conf->n_nodes; i++)
		cap += SL_MAX(c->conf->nodes[i].ram_capacity,
			      c->conf->nodes[i].disk_capacity);
	for (size_t d = 0; d < nds; d++)
		info[d].first = n;
	for (int i = 0; i < n; i++)
		info[jobs[i].ds].first = SL_MIN(info[jobs[i].ds].first, i);
	for (size_t d = 0; d < nds; d++) {
		if (info[d].first == n)
			continue; /* no job wants it: not asked */
		ctl_count(c, c->conf->datasets[d].name, h);
		for (size_t i = 0; i < c->n_nodes; i++) {
			if (h[i].rc != 0)
				continue;
			info[d].bytes += h[i].bytes_total;
			info[d].held += h[i].bytes_held;
		}
		info[d].cached = info[d].bytes ? (double)info[d].held /
							 (double)info[d].bytes
					       : 0;
	}
	fifo = sl_xcalloc((size_t)n + 1, sizeof(*fifo));
	plan = sl_xcalloc((size_t)n + 1, sizeof(*plan));
	for (int i = 0; i < n; i++)
		fifo[i] = i;
	/* The groups: each dataset once, by cached fraction, then queue
	 * order; a group's jobs in queue order. */
	for (;;) {
		size_t best = nds;

		for (size_t d = 0; d < nds; d++) {
			if (info[d].first == n)
				continue;
			if (best == nds || info[d].cached > info[best].cached ||
			    (info[d].cached == info[best].cached &&
			     info[d].first < info[best].first))
				best = d;
		}
		if (best == nds)
			break;
		for (int i = 0; i < n; i++)
			if (jobs[i].ds == (int)best)
				plan[k++] = i;
		info[best].first = n; /* done */
	}
	fifo_bytes = replay(jobs, fifo, n, info, nds, cap);
	plan_bytes = replay(jobs, plan, n, info, nds, cap);
	if (json)
		rc = print_json(c, jobs, plan, n, info, plan_bytes, fifo_bytes,
				cap);
	else
		rc = print_table(c, jobs, plan, n, info, plan_bytes, fifo_bytes,
				 cap);
out:
	free(fifo);
	free(plan);
	free(jobs);
	free(info);
	free(h);
	return rc;
}
