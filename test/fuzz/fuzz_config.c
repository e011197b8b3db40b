/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the cluster configuration parser (`make fuzz`):
 * any text is parsed; a failure must come with a message that names the
 * file ("f.ini:"), and a configuration that loads must hold what the
 * validation promises -- names valid, nodes for a static cluster, block
 * sizes in range, allow lists of valid names, every [node] with a public
 * key under security = curve.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "test/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[512] = "";
	sl_config_t *c;

	memcpy(text, data, size);
	text[size] = '\0'; /* the loader refuses NULs before the parser */
	c = sl_config_parse(text, "f.ini", err, sizeof(err));
	if (!c) {
		EXPECT(strncmp(err, "f.ini:", 6) == 0);
		free(text);
		return 0;
	}
	EXPECT(sl_name_valid(c->cluster_name));
	if (c->membership == SL_MEMBERSHIP_STATIC)
		EXPECT(c->n_nodes > 0);
	for (size_t i = 0; i < c->n_nodes; i++) {
		EXPECT(sl_name_valid(c->nodes[i].name));
		EXPECT(c->nodes[i].addr[0]);
		EXPECT(c->security != SL_SECURITY_CURVE ||
		       c->nodes[i].public_key);
	}
	for (size_t i = 0; i < c->n_datasets; i++) {
		const sl_dataset_conf_t *d = &c->datasets[i];

		EXPECT(sl_name_valid(d->name));
		EXPECT(d->uri && d->backend[0]);
		EXPECT(d->block_size >= SL_BLOCK_SIZE_MIN &&
		       d->block_size <= SL_BLOCK_SIZE_MAX);
		EXPECT(!d->has_allow || c->security == SL_SECURITY_CURVE);
		for (size_t k = 0; k < d->n_allow; k++)
			EXPECT(sl_name_valid(d->allow[k]));
		EXPECT(sl_config_dataset(c, d->name) == d);
	}
	sl_config_destroy(&c);
	EXPECT(c == NULL);
	free(text);
	return 0;
}
