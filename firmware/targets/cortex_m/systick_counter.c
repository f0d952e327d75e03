/*
 * systick_counter.c - a 64-bit processor-clock tick count built on SysTick.
 *
 * SysTick counts down from TG_SYST_RELOAD_MAX at the processor clock; each
 * wrap to zero raises the SysTick exception, which adds one period to a 64-bit
 * base. A reader combines the base with the current down-count, retrying when
 * a wrap happened in between (the base changed under it).
 *
 * Used where DWT CYCCNT is absent: QEMU emulates SysTick faithfully, and under
 * `-icount shift=0` its clock is tied to the instruction count.
 */
#include "cortex_m.h"

#define SYSTICK_PERIOD ((uint64_t)TG_SYST_RELOAD_MAX + 1u)

static volatile uint64_t systick_base;

void SysTick_Handler(void)
{
    systick_base += SYSTICK_PERIOD;
}

void tg_systick_start(void)
{
    systick_base = 0u;
    TG_SYST_CSR = 0u;
    TG_SYST_RVR = TG_SYST_RELOAD_MAX;
    TG_SYST_CVR = 0u; /* any write clears the count and COUNTFLAG */
    TG_SYST_CSR = TG_SYST_CSR_ENABLE | TG_SYST_CSR_TICKINT | TG_SYST_CSR_CLKSOURCE;
}

uint64_t tg_systick_ticks(void)
{
    uint64_t base;
    uint32_t current;
    do {
        base = systick_base;
        current = TG_SYST_CVR;
    } while (base != systick_base);
    /* The counter runs RELOAD..0; elapsed ticks in this period = RELOAD - current. */
    return base + (uint64_t)(TG_SYST_RELOAD_MAX - current);
}
