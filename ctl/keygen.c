/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl keygen -o DIR NAME: writes DIR/NAME.key (the secret key, mode
 * 0600) and DIR/NAME.pub (the public key) for a node's [node NAME]
 * secret_key / public_key, or a client's [client] secret_key and its
 * NAME.pub in the nodes' allowed_clients directory.  It needs no cluster
 * configuration and talks to no node.
 */
#include "ctl/keygen.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/keys.h"

int ctl_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = ".";
	char err[512];
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (opt != 'o') {
			fprintf(stderr,
				"usage: sluicectl keygen [-o DIR] NAME\n");
			return 2;
		}
		dir = optarg;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: sluicectl keygen [-o DIR] NAME\n");
		return 2;
	}
	if (sl_keys_generate(dir, argv[optind], err, sizeof(err)) < 0) {
		fprintf(stderr, "sluicectl: keygen: %s\n", err);
		return 1;
	}
	printf("%s/%s.key (secret, mode 0600)\n%s/%s.pub\n", dir, argv[optind],
	       dir, argv[optind]);
	return 0;
}
