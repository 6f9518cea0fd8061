/* lwIP's system functions for NO_SYS=1, over the port interface (core). */
#include "lwip/sys.h"
#include "xway_port.h"

u32_t sys_now(void)
{
    return xway_port_now_ms();
}
