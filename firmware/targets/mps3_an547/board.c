/*
 * board.c - tinygen board support for Arm MPS3 AN547 (Corstone SSE-300 with a
 * Cortex-M55: Helium/MVE + FPU) as emulated by QEMU (`-M mps3-an547`).
 *
 * The core boots in the Secure state with the image in ITCM (0x10000000) and
 * data in DTCM (0x30000000); peripherals are used through their Secure
 * aliases (0x5xxxxxxx).
 *
 * Serial link: CMSDK UART0 (receive interrupt + ring buffer). Cycle count:
 * SysTick at the 32 MHz processor clock. Under `-icount shift=0` (1 ns per
 * instruction) one tick is 31.25 instructions, so board_cycles() returns
 * ticks x 125 / 4 = instructions executed.
 */
#include <stdint.h>

#include "board.h"
#include "cmsdk_uart.h"
#include "cortex_m.h"

#define AN547_UART0_BASE 0x59303000u   /* CMSDK APB UART0, Secure alias (Non-secure: 0x49303000) */
#define AN547_UART0_RX_IRQ 33u         /* UART0 receive interrupt (TX is 34) */
#define AN547_SYSCLK_HZ 32000000u      /* processor clock: SysTick's clock source */
#define AN547_UART_CLK_HZ 25000000u    /* peripheral clock of the UARTs */
#define AN547_BAUD 115200u             /* nominal: QEMU ignores the rate */
/* ns per SysTick tick = 1e9 / 32e6 = 31.25 = 125 / 4 (1 ns per instruction under -icount shift=0) */
#define INSTRUCTIONS_PER_TICK_NUM 125u
#define INSTRUCTIONS_PER_TICK_DEN 4u

void board_init(void)
{
    tg_systick_start();
    cmsdk_uart_init(AN547_UART0_BASE, AN547_UART_CLK_HZ, AN547_BAUD);
    cmsdk_uart_rx_start(AN547_UART0_BASE, AN547_UART0_RX_IRQ);
}

void board_irq(uint32_t irq)
{
    if (irq == AN547_UART0_RX_IRQ) {
        cmsdk_uart_rx_isr();
    }
}

int board_read_byte(void)
{
    return cmsdk_uart_read_buffered();
}

void board_write(const uint8_t *data, uint32_t len)
{
    cmsdk_uart_write(AN547_UART0_BASE, data, len);
}

uint64_t board_cycles(void)
{
    return tg_systick_ticks() * INSTRUCTIONS_PER_TICK_NUM / INSTRUCTIONS_PER_TICK_DEN;
}

const char *board_name(void)
{
    return "mps3-an547";
}

const char *board_cycle_unit(void)
{
    return "instructions";
}
