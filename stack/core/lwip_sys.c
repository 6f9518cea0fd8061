/* lwIP's system functions for NO_SYS=1 and its random numbers, over the
 * port interface (core). */
#include "lwip/sys.h"
#include "xway_port.h"

u32_t sys_now(void)
{
    return (u32_t)(xway_port_now_us() / 1000u);
}

u32_t xw_lwip_rand(void)
{
    u32_t v = 0;

    /* (At boot, before the pool is ready: not secret, but not repeated.) */
    if (xway_port_random(&v, sizeof(v)) < 0)
        v = (u32_t)xway_port_now_us() ^ (u32_t)(uintptr_t)&v;
    return v;
}
