/*
 * emulated_stm32.h - what tinygen's bootloader pretends to be, and where the
 * pretence lives in the memory of the QEMU mps2-an386 board.
 *
 * Board memory (QEMU mps2-an386): SSRAM1, 4 MiB of RAM-backed code memory at
 * 0x00000000; SSRAM2/3, 4 MiB at 0x20000000; CMSDK UART0 at 0x40004000.
 *
 *   0x00000000-0x00007FFF  this bootloader (vector table at 0: it boots first)
 *   0x0000FFF0             the BOOT0 flag word (see TG_BOOT0_MAGIC)
 *   0x00010000-0x0010FFFF  the application, executing in place; shown to
 *                          flashers as 1 MiB of flash at 0x08000000
 *   0x20000000-0x203EFFFF  RAM the flasher may READ/WRITE/GO (the application's)
 *   0x203F0000-0x203FFFFF  the bootloader's own data and stack
 *
 * The "flash" behaves like an STM32F405/407's (product ID 0x413, 1 MiB):
 * twelve sectors of 4 x 16 KiB, 1 x 64 KiB, 7 x 128 KiB; an erased byte
 * reads 0xFF; programming can only clear bits (a WRITE over bytes that are
 * not erased, other than rewriting the same value, is refused with NACK).
 */
#ifndef TG_EMULATED_STM32_H
#define TG_EMULATED_STM32_H

#include <stdint.h>

#define TG_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* CMSDK APB UART0 (Arm DDI0479), polled; its RX interrupt only wakes WFI. */
#define TG_UART0_BASE 0x40004000u
#define TG_UART_REG(offset) TG_REG32(TG_UART0_BASE + (offset))
#define TG_UART_DATA 0x00u
#define TG_UART_STATE 0x04u
#define TG_UART_CTRL 0x08u
#define TG_UART_INTCLEAR 0x0Cu /* write 1s to clear */
#define TG_UART_BAUDDIV 0x10u
#define TG_UART_STATE_TX_FULL (1u << 0)
#define TG_UART_STATE_RX_FULL (1u << 1)
#define TG_UART_CTRL_TX_EN (1u << 0)
#define TG_UART_CTRL_RX_EN (1u << 1)
#define TG_UART_CTRL_RX_INT_EN (1u << 3)
#define TG_UART_INT_RX (1u << 1)
#define TG_UART0_RX_IRQ 0u /* MPS2 AN385/AN386 interrupt map */

/* Core registers (ARMv7-M System Control Space) */
#define TG_SCB_VTOR TG_REG32(0xE000ED08u)
#define TG_NVIC_ISER0 TG_REG32(0xE000E100u) /* set-enable */
#define TG_NVIC_ICER0 TG_REG32(0xE000E180u) /* clear-enable */
#define TG_NVIC_ICPR0 TG_REG32(0xE000E280u) /* clear-pending */

#define TG_SYSCLK_HZ 25000000u
#define TG_BAUD 115200u /* nominal: QEMU does not time the line */

#define TG_APP_EXEC_BASE 0x00010000u /* where the application runs */
#define TG_FLASH_BASE 0x08000000u    /* where flashers see it */
#define TG_FLASH_SIZE 0x00100000u    /* 1 MiB */

#define TG_RAM_BASE 0x20000000u
#define TG_RAM_USER_END 0x203F0000u /* the bootloader's RAM starts here */
#define TG_RAM_END 0x20400000u

/*
 * BOOT0. QEMU models the pin as a word in code memory written at every reset:
 *   -device loader,addr=0x0000FFF0,data=0x30424754,data-len=4
 * (`tinygen emulate --bootloader` adds it). 0x30424754 is "TGB0" in memory
 * order. With the word present the bootloader always serves the protocol;
 * without it (the word reads 0 in fresh RAM) it starts a valid application at
 * once and serves the protocol only when there is none.
 */
#define TG_BOOT0_FLAG_ADDR 0x0000FFF0u
#define TG_BOOT0_MAGIC 0x30424754u

#define TG_BOOTLOADER_VERSION 0x31u /* 3.1: extended erase */
#define TG_PRODUCT_ID 0x0413u       /* STM32F405/407/415/417 */
#define TG_FLASH_SECTORS 12u

#endif /* TG_EMULATED_STM32_H */
