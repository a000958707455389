/* Test stand-in for mOS's mtcp_api.h, written for this project (not a copy): the same include
 * guard and include lines as the real header in the mos-stack repository (core/src/include/),
 * and the declarations a middlebox calling mtcp_sendpkt sees, with the names of the real ones. */
#ifndef __MTCP_API_H_
#define __MTCP_API_H_

#include <stdint.h>
#include <netinet/in.h>
#include <sys/uio.h>

typedef unsigned char byte;

#ifdef __cplusplus
extern "C" {
#endif

struct mtcp_context {
	int cpu;
};
typedef struct mtcp_context *mctx_t;

enum socket_type { MOS_SOCK_UNUSED, MOS_SOCK_STREAM_LISTEN, MOS_SOCK_MONITOR_STREAM };

#ifdef __cplusplus
}
#endif

#endif
