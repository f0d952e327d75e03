/*
 * startup.c - reset handler and vector table shared by tinygen's Cortex-M boards.
 *
 * The linker script (templates/targets/<board>/linker.ld.j2) provides:
 *   __stack_top          initial main stack pointer (top of RAM)
 *   __data_load          where the initial values of .data sit in flash
 *   __data_start/__data_end, __bss_start/__bss_end   the RAM ranges to set up
 *
 * The reset handler points VTOR at this image's own vector table (the image may
 * be started by a bootloader that lives at address 0), copies .data, zeroes
 * .bss, enables the FPU when the code was compiled for one, and calls main().
 * SysTick counts cycles; device interrupts (the UART's receive interrupt) all
 * enter Irq_Handler, which passes the interrupt number to the board's
 * board_irq() (weak default: ignore).
 */
#include <stdint.h>

#include "cortex_m.h"

extern uint32_t __stack_top;
extern uint32_t __data_load;
extern uint32_t __data_start;
extern uint32_t __data_end;
extern uint32_t __bss_start;
extern uint32_t __bss_end;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);
void Irq_Handler(void);
void board_irq(uint32_t irq);

/* Device interrupt entries after the 16 core ones: enough for the boards here
 * (AN386 UART0 RX is IRQ 0, AN547 UART0 RX is IRQ 33). */
#define TG_DEVICE_IRQS 64
#define IRQ4 Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler
#define IRQ16 IRQ4, IRQ4, IRQ4, IRQ4

/* Core exception vectors (ARMv7-M / ARMv8-M architecture manuals, "vector table"). */
typedef void (*tg_vector)(void);

__attribute__((section(".isr_vector"), used))
const tg_vector tg_vector_table[16 + TG_DEVICE_IRQS] = {
    (tg_vector)(uintptr_t)&__stack_top, /*  0 initial SP */
    Reset_Handler,                      /*  1 reset */
    Default_Handler,                    /*  2 NMI */
    Fault_Handler,                      /*  3 HardFault */
    Fault_Handler,                      /*  4 MemManage */
    Fault_Handler,                      /*  5 BusFault */
    Fault_Handler,                      /*  6 UsageFault */
    Fault_Handler,                      /*  7 SecureFault (ARMv8-M) */
    0,                                  /*  8 reserved */
    0,                                  /*  9 reserved */
    0,                                  /* 10 reserved */
    Default_Handler,                    /* 11 SVCall */
    Default_Handler,                    /* 12 DebugMonitor */
    0,                                  /* 13 reserved */
    Default_Handler,                    /* 14 PendSV */
    SysTick_Handler,                    /* 15 SysTick */
    IRQ16, IRQ16, IRQ16, IRQ16,         /* 16.. device interrupts 0..63 */
};

__attribute__((noreturn, used))
void Reset_Handler(void)
{
    TG_SCB_VTOR = (uint32_t)(uintptr_t)tg_vector_table;

#if defined(__ARM_FP)
    /* Full access to coprocessors 10 and 11 (the FPU) before any FP instruction. */
    TG_SCB_CPACR |= TG_CPACR_CP10_CP11_FULL;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif

    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0u;
    }

    (void)main();
    for (;;) {
        __asm volatile("wfi");
    }
}

/* A fault means a bug in the firmware: stop where a debugger can see it. The
 * host notices the silence and reports a timeout. */
__attribute__((noreturn, used))
void Fault_Handler(void)
{
    for (;;) {
        __asm volatile("bkpt #0");
    }
}

__attribute__((noreturn, used))
void Default_Handler(void)
{
    for (;;) {
    }
}

/* Every device interrupt: the exception number (IPSR) minus 16 is the IRQ. */
void Irq_Handler(void)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    board_irq((ipsr & 0x1FFu) - 16u);
}

__attribute__((weak))
void board_irq(uint32_t irq)
{
    (void)irq;
}

/* Weak so a board without a SysTick counter links without it. */
__attribute__((weak))
void SysTick_Handler(void)
{
}

/* newlib's nosys stubs want these to exist even though nothing calls them. */
void _exit(int status);
__attribute__((noreturn, weak))
void _exit(int status)
{
    (void)status;
    for (;;) {
    }
}
