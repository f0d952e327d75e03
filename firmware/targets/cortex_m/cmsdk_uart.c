/*
 * cmsdk_uart.c - CMSDK APB UART: polled transmit, interrupt-driven receive.
 *
 * The receive interrupt moves bytes from the one-byte RX buffer into a ring.
 * When the ring is full the byte simply stays in the UART (the sender is held
 * off: QEMU delivers nothing more until it is read, a real link would overrun,
 * which the protocol's CRCs catch); the reader drains the UART itself before
 * sleeping, so a byte left there is never forgotten.
 */
#include "cmsdk_uart.h"

#include "cortex_m.h"

#define REG(base, offset) (*(volatile uint32_t *)((base) + (offset)))
#define RING_BYTES 512u /* power of two */

void cmsdk_uart_init(uintptr_t base, uint32_t clock_hz, uint32_t baud)
{
    REG(base, CMSDK_UART_CTRL) = 0u;
    REG(base, CMSDK_UART_BAUDDIV) = clock_hz / baud;
    REG(base, CMSDK_UART_CTRL) = CMSDK_UART_CTRL_TX_EN | CMSDK_UART_CTRL_RX_EN;
}

int cmsdk_uart_read_byte(uintptr_t base)
{
    while ((REG(base, CMSDK_UART_STATE) & CMSDK_UART_STATE_RX_FULL) == 0u) {
    }
    return (int)(REG(base, CMSDK_UART_DATA) & 0xFFu);
}

void cmsdk_uart_write(uintptr_t base, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; ++i) {
        while ((REG(base, CMSDK_UART_STATE) & CMSDK_UART_STATE_TX_FULL) != 0u) {
        }
        REG(base, CMSDK_UART_DATA) = data[i];
    }
}

/* ---- buffered receive ---- */

static uintptr_t rx_base;
static volatile uint8_t ring[RING_BYTES];
static volatile uint32_t ring_head; /* written by drain() only */
static volatile uint32_t ring_tail; /* written by the reader only */

void cmsdk_uart_rx_start(uintptr_t base, uint32_t rx_irq)
{
    rx_base = base;
    ring_head = 0u;
    ring_tail = 0u;
    REG(base, CMSDK_UART_INTCLEAR) = CMSDK_UART_INT_RX;
    REG(base, CMSDK_UART_CTRL) |= CMSDK_UART_CTRL_RX_INT_EN;
    tg_nvic_enable(rx_irq);
    __asm volatile("cpsie i" ::: "memory");
}

/* Moves received bytes into the ring while there is room. Runs in the ISR, or
 * in the reader with interrupts masked. */
static void drain(void)
{
    while ((REG(rx_base, CMSDK_UART_STATE) & CMSDK_UART_STATE_RX_FULL) != 0u) {
        uint32_t head = ring_head;
        if (head - ring_tail >= RING_BYTES) {
            return;
        }
        ring[head % RING_BYTES] = (uint8_t)REG(rx_base, CMSDK_UART_DATA);
        ring_head = head + 1u;
    }
}

void cmsdk_uart_rx_isr(void)
{
    REG(rx_base, CMSDK_UART_INTCLEAR) = CMSDK_UART_INT_RX;
    drain();
}

int cmsdk_uart_read_buffered(void)
{
    for (;;) {
        /* With interrupts masked, "nothing to read" and "go to sleep" cannot be
         * split by the ISR; WFI still wakes on the pending interrupt. */
        __asm volatile("cpsid i" ::: "memory");
        drain();
        uint32_t tail = ring_tail;
        if (ring_head != tail) {
            int c = ring[tail % RING_BYTES];
            ring_tail = tail + 1u;
            __asm volatile("cpsie i" ::: "memory");
            return c;
        }
        __asm volatile("wfi\n\tcpsie i\n\tisb" ::: "memory");
    }
}
