/* NO_SYS=1: lwIP needs no semaphores, mailboxes or threads from the port. */
#ifndef XW_ARCH_SYS_ARCH_H
#define XW_ARCH_SYS_ARCH_H
#endif
