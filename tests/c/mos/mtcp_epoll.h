/* Test stand-in for mOS's mtcp_epoll.h, written for this project: same guard and include. */
#ifndef __MTCP_EPOLL_H_
#define __MTCP_EPOLL_H_

#include "mtcp_api.h"

enum mtcp_epoll_op { MOS_EPOLL_CTL_ADD = 1, MOS_EPOLL_CTL_DEL = 2, MOS_EPOLL_CTL_MOD = 3 };

#endif
