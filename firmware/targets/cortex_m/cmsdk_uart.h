/*
 * cmsdk_uart.h - driver for the Arm CMSDK APB UART (Cortex-M System Design Kit,
 * DDI0479), the UART of the MPS2/MPS3 FPGA images that QEMU models.
 *
 * Transmit is polled. Receive is interrupt driven into a ring buffer, and a
 * reader with nothing to read sleeps in WFI: under QEMU this hands the host
 * thread the time to deliver the next byte (several times faster than polling
 * the status register) and on silicon it is the usual low-power wait.
 */
#ifndef TG_CMSDK_UART_H
#define TG_CMSDK_UART_H

#include <stdint.h>

/* Register offsets from the UART base address */
#define CMSDK_UART_DATA 0x00u      /* read: received byte, write: byte to send */
#define CMSDK_UART_STATE 0x04u     /* bit0 TX buffer full, bit1 RX buffer full */
#define CMSDK_UART_CTRL 0x08u      /* bit0 TX enable, bit1 RX enable, bit3 RX interrupt enable */
#define CMSDK_UART_INTCLEAR 0x0Cu  /* write 1s: bit0 TX, bit1 RX interrupt clear */
#define CMSDK_UART_BAUDDIV 0x10u   /* baud rate divider (>= 16) */

#define CMSDK_UART_STATE_TX_FULL (1u << 0)
#define CMSDK_UART_STATE_RX_FULL (1u << 1)
#define CMSDK_UART_CTRL_TX_EN (1u << 0)
#define CMSDK_UART_CTRL_RX_EN (1u << 1)
#define CMSDK_UART_CTRL_RX_INT_EN (1u << 3)
#define CMSDK_UART_INT_RX (1u << 1)

/* Polled use of the UART at `base` (the bootloader uses these). */
void cmsdk_uart_init(uintptr_t base, uint32_t clock_hz, uint32_t baud);
int cmsdk_uart_read_byte(uintptr_t base);
void cmsdk_uart_write(uintptr_t base, const uint8_t *data, uint32_t len);

/* Buffered receive (the application firmware): after cmsdk_uart_init(), turns
 * on the RX interrupt `rx_irq` of the UART at `base`; the board calls
 * cmsdk_uart_rx_isr() from board_irq() and reads with cmsdk_uart_read_buffered(). */
void cmsdk_uart_rx_start(uintptr_t base, uint32_t rx_irq);
void cmsdk_uart_rx_isr(void);
int cmsdk_uart_read_buffered(void);

#endif /* TG_CMSDK_UART_H */
