/*
 * dwt_counter.c - a 64-bit cycle count from the DWT cycle counter (CYCCNT).
 *
 * CYCCNT is a free-running 32-bit counter of processor cycles; it wraps every
 * 2^32 cycles (about 36 s at 120 MHz). The extension to 64 bits adds 2^32
 * whenever a read sees a smaller value than the previous read, which is right
 * as long as reads are less than one wrap apart (the main loop reads it around
 * every layer and every invoke).
 */
#include "cortex_m.h"

static uint32_t dwt_last;
static uint64_t dwt_high;

void tg_dwt_start(void)
{
    TG_DEMCR |= TG_DEMCR_TRCENA; /* the DWT is off until trace is enabled */
    TG_DWT_CYCCNT = 0u;
    TG_DWT_CTRL |= TG_DWT_CTRL_CYCCNTENA;
    dwt_last = 0u;
    dwt_high = 0u;
}

uint64_t tg_dwt_cycles(void)
{
    uint32_t now = TG_DWT_CYCCNT;
    if (now < dwt_last) {
        dwt_high += (uint64_t)1u << 32;
    }
    dwt_last = now;
    return dwt_high | now;
}
