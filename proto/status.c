/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a reply's status tells its receiver to do (see pr_status_class() in
 * proto.h, and the table in PROTOCOL.md section 5).  One table for every
 * side, so the FUSE client's fail-over and a cache node's logging of its
 * backend's errors cannot disagree about what an errno means.  The rule
 * behind each row: an answer is what every node would say about this
 * request, because it is a fact about the data or the request; "next" and
 * "later" are about the node that said it (it cannot serve this now, or
 * it and its store are short of something for a while); "remap" is about
 * the asker's map (it made the request under a dataset layout this node no
 * longer serves: fetch the map again); anything else is
 * unexpected, passed on as it is and logged loudly, because retrying a
 * failure nobody understands would only hide it.
 */
#include "proto/proto.h"

#include <errno.h>

pr_status_class_t pr_status_class(int status)
{
	/* Compared before negating: -INT_MIN is undefined. */
	if (status == 0)
		return PR_STATUS_OK;
	if (status > 0 || status < -PR_ERRNO_MAX)
		return PR_STATUS_NEXT; /* a broken peer: ask another */
	switch (-status) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ESTALE:
	case EACCES:
	case EPERM:
	case EROFS:
	case ENAMETOOLONG:
	case EINVAL:
	case EBADMSG:
	case EMSGSIZE:
	case EOPNOTSUPP:
		return PR_STATUS_ANSWER;
	case ESHUTDOWN:
	case EHOSTUNREACH:
	case ECONNREFUSED:
	case ENODATA:
	case EPROTONOSUPPORT:
		return PR_STATUS_NEXT;
	case EREMCHG:
		return PR_STATUS_REMAP;
	case EAGAIN:
	case EBUSY:
	case ENOMEM:
	case ENOBUFS:
	case EMFILE:
	case ENFILE:
	case ETIMEDOUT:
	case EIO:
		return PR_STATUS_LATER;
	default:
		return PR_STATUS_UNEXPECTED;
	}
}
