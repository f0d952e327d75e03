/*
 * board.c - tinygen board support for Arm MPS2 AN386 (Cortex-M4 with FPU) as
 * emulated by QEMU (`qemu-system-arm -M mps2-an386`).
 *
 * Serial link: CMSDK UART0 (receive interrupt + ring buffer). Cycle count:
 * SysTick at the processor clock.
 *
 * Under QEMU, tinygen always runs with `-icount shift=0`: every guest
 * instruction advances virtual time by exactly 1 ns, and SysTick ticks at the
 * 25 MHz processor clock, i.e. once every 40 ns = 40 instructions. So
 * board_cycles() returns SysTick ticks x 40 = instructions executed, and the
 * unit it reports is "instructions" (QEMU has no cycle model of the pipeline).
 */
#include <stdint.h>

#include "board.h"
#include "cmsdk_uart.h"
#include "cortex_m.h"

#define AN386_UART0_BASE 0x40004000u   /* CMSDK APB UART0 */
#define AN386_UART0_RX_IRQ 0u          /* UART0 receive interrupt (TX is 1) */
#define AN386_SYSCLK_HZ 25000000u      /* FPGA system/processor clock */
#define AN386_BAUD 115200u             /* nominal: QEMU ignores the rate */
#define NS_PER_SECOND 1000000000u
/* Instructions per SysTick tick under -icount shift=0 (1 ns per instruction). */
#define INSTRUCTIONS_PER_TICK (NS_PER_SECOND / AN386_SYSCLK_HZ)

void board_init(void)
{
    tg_systick_start();
    cmsdk_uart_init(AN386_UART0_BASE, AN386_SYSCLK_HZ, AN386_BAUD);
    cmsdk_uart_rx_start(AN386_UART0_BASE, AN386_UART0_RX_IRQ);
}

void board_irq(uint32_t irq)
{
    if (irq == AN386_UART0_RX_IRQ) {
        cmsdk_uart_rx_isr();
    }
}

int board_read_byte(void)
{
    return cmsdk_uart_read_buffered();
}

void board_write(const uint8_t *data, uint32_t len)
{
    cmsdk_uart_write(AN386_UART0_BASE, data, len);
}

uint64_t board_cycles(void)
{
    return tg_systick_ticks() * INSTRUCTIONS_PER_TICK;
}

const char *board_name(void)
{
    return "mps2-an386";
}

const char *board_cycle_unit(void)
{
    return "instructions";
}
