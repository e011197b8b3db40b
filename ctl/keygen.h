/* SPDX-License-Identifier: Apache-2.0 */
/* sluicectl keygen: a CURVE key pair for a node or a client. */
#ifndef CTL_KEYGEN_H
#define CTL_KEYGEN_H

/* argv[0] is "keygen"; argv borrowed.  Returns the exit status. */
int ctl_keygen(int argc, char **argv);

#endif
