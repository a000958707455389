/* Test stand-in for the mOS library a middlebox was linked against (libmtcp.so / libmtcp.a):
 * its mtcp_sendpkt answers with a recognizable failure, and it has another function the program
 * needs, so that the rest of the old library must stay in the link. */
#include <errno.h>

struct pkt_info;
struct mtcp_context;

int mtcp_sendpkt(struct mtcp_context *mctx, int sock, const struct pkt_info *pkt)
{
	(void)mctx;
	(void)sock;
	(void)pkt;
	errno = ENOSYS;
	return -1;
}

/* The mmTLS fork's library has this one too (its prototype). */
int mtcp_sendpkt_raw(struct mtcp_context *mctx, int sock, unsigned char *rawpkt, unsigned short len)
{
	(void)mctx;
	(void)sock;
	(void)rawpkt;
	(void)len;
	errno = ENOSYS;
	return -1;
}

const char *mtcp_stand_in_version(void)
{
	return "the old mOS library (stand-in)";
}
