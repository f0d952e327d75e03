/*
 * cortex_m.h - the few core registers tinygen's Cortex-M boards touch.
 *
 * Addresses are architectural (ARMv7-M / ARMv8-M "System Control Space"), the
 * same on every Cortex-M3/M4/M7/M33/M55; named here instead of pulling in CMSIS.
 */
#ifndef TG_CORTEX_M_H
#define TG_CORTEX_M_H

#include <stdint.h>

#define TG_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System Control Block */
#define TG_SCB_VTOR TG_REG32(0xE000ED08u)  /* vector table offset */
#define TG_SCB_CPACR TG_REG32(0xE000ED88u) /* coprocessor access control */
#define TG_CPACR_CP10_CP11_FULL (0xFu << 20) /* CP10, CP11 = 0b11: full access */

/* Nested Vectored Interrupt Controller: set-enable registers, 32 IRQs each */
#define TG_NVIC_ISER(n) TG_REG32(0xE000E100u + 4u * (n))

/* SysTick (24-bit down counter) */
#define TG_SYST_CSR TG_REG32(0xE000E010u) /* control and status */
#define TG_SYST_RVR TG_REG32(0xE000E014u) /* reload value */
#define TG_SYST_CVR TG_REG32(0xE000E018u) /* current value */
#define TG_SYST_CSR_ENABLE (1u << 0)
#define TG_SYST_CSR_TICKINT (1u << 1)   /* interrupt on reaching 0 */
#define TG_SYST_CSR_CLKSOURCE (1u << 2) /* 1 = processor clock */
#define TG_SYST_CSR_COUNTFLAG (1u << 16)
#define TG_SYST_RELOAD_MAX 0x00FFFFFFu

/* Data Watchpoint and Trace unit: the cycle counter (absent in QEMU) */
#define TG_DEMCR TG_REG32(0xE000EDFCu)
#define TG_DEMCR_TRCENA (1u << 24)
#define TG_DWT_CTRL TG_REG32(0xE0001000u)
#define TG_DWT_CYCCNT TG_REG32(0xE0001004u)
#define TG_DWT_CTRL_CYCCNTENA (1u << 0)

/* Device interrupt hook: called from the shared vector table with the IRQ number. */
void board_irq(uint32_t irq);

static inline void tg_nvic_enable(uint32_t irq)
{
    TG_NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

/* A 64-bit count of processor-clock ticks from SysTick (systick_counter.c). */
void tg_systick_start(void);
uint64_t tg_systick_ticks(void);

/* A 64-bit count of processor cycles from DWT CYCCNT (dwt_counter.c). */
void tg_dwt_start(void);
uint64_t tg_dwt_cycles(void);

#endif /* TG_CORTEX_M_H */
