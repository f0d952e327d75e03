/*
 * startup.c - reset entry of tinygen's bootloader (Cortex-M, no C library).
 *
 * The vector table sits at 0x00000000, so the core takes the bootloader's
 * stack pointer and reset handler at every reset. The bootloader uses no
 * interrupts; faults park the core in a loop (visible in a debugger).
 */
#include <stdint.h>

extern uint32_t __data_load;  /* linker script: .data's image in code memory */
extern uint32_t __data_start; /* ... and its place in RAM */
extern uint32_t __data_end;
extern uint32_t __bss_start;
extern uint32_t __bss_end;
extern uint32_t __stack_top;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

typedef void (*vector_t)(void);

/* Initial SP, reset, NMI, HardFault, MemManage, BusFault, UsageFault. */
__attribute__((section(".isr_vector"), used))
static const vector_t vector_table[7] = {
    (vector_t)(uintptr_t)&__stack_top,
    Reset_Handler,
    Fault_Handler,
    Fault_Handler,
    Fault_Handler,
    Fault_Handler,
    Fault_Handler,
};

void Reset_Handler(void)
{
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end; ++dst) {
        *dst = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end; ++dst) {
        *dst = 0u;
    }
    (void)main();
    for (;;) {
    }
}

void Fault_Handler(void)
{
    for (;;) {
    }
}
