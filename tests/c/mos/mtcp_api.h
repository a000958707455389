/* Test stand-in for mOS 0.3's mtcp_api.h: only what MOS_COMPAT.md says a middlebox sees of it. */
#ifndef __MTCP_API_H_
#define __MTCP_API_H_

struct mtcp_context {
	int cpu;
};
typedef struct mtcp_context *mctx_t;

#endif
