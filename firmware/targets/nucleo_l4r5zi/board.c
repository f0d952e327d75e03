/*
 * board.c - tinygen board support for ST NUCLEO-L4R5ZI (STM32L4R5ZI, Cortex-M4F),
 * the MLPerf Tiny reference board. Register-level: no HAL, no CMSIS.
 *
 * Facts used (STM32L4+ reference manual RM0432, Nucleo-144 user manual UM2179):
 * - After reset the core runs from MSI at 4 MHz; tinygen keeps that clock (no
 *   PLL, no flash wait-state change), so the serial baud rate below is exact.
 * - The ST-LINK virtual COM port is wired to LPUART1: TX on PG7, RX on PG8,
 *   alternate function 8. Port G pins PG2..PG15 are powered from VDDIO2, which
 *   must be declared valid (PWR_CR2.IOSV) before the port works.
 * - Cycles come from the DWT cycle counter (CYCCNT), i.e. true core cycles.
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"

/* Clock */
#define MSI_RESET_HZ 4000000u        /* MSI range 6 after reset */
#define VCP_BAUD 115200u

/* RCC: reset and clock control */
#define RCC_BASE 0x40021000u
#define RCC_AHB2ENR TG_REG32(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 TG_REG32(RCC_BASE + 0x58u)
#define RCC_APB1ENR2 TG_REG32(RCC_BASE + 0x5Cu)
#define RCC_CCIPR TG_REG32(RCC_BASE + 0x88u)
#define RCC_AHB2ENR_GPIOGEN (1u << 6)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define RCC_APB1ENR2_LPUART1EN (1u << 0)
#define RCC_CCIPR_LPUART1SEL_SHIFT 10u /* 00 PCLK1, 01 SYSCLK, 10 HSI16, 11 LSE */
#define RCC_CCIPR_LPUART1SEL_MASK (3u << RCC_CCIPR_LPUART1SEL_SHIFT)

/* PWR: VDDIO2 (port G) supply valid */
#define PWR_BASE 0x40007000u
#define PWR_CR2 TG_REG32(PWR_BASE + 0x04u)
#define PWR_CR2_IOSV (1u << 9)

/* GPIOG */
#define GPIOG_BASE 0x48001800u
#define GPIOG_MODER TG_REG32(GPIOG_BASE + 0x00u)   /* 2 bits per pin, 0b10 = alternate function */
#define GPIOG_OSPEEDR TG_REG32(GPIOG_BASE + 0x08u) /* 2 bits per pin */
#define GPIOG_PUPDR TG_REG32(GPIOG_BASE + 0x0Cu)   /* 2 bits per pin, 0b01 = pull-up */
#define GPIOG_AFRL TG_REG32(GPIOG_BASE + 0x20u)    /* 4 bits per pin, pins 0..7 */
#define GPIOG_AFRH TG_REG32(GPIOG_BASE + 0x24u)    /* 4 bits per pin, pins 8..15 */
#define VCP_TX_PIN 7u                               /* PG7 = LPUART1_TX */
#define VCP_RX_PIN 8u                               /* PG8 = LPUART1_RX */
#define GPIO_AF8_LPUART1 8u
#define GPIO_MODE_AF 2u
#define GPIO_SPEED_HIGH 2u
#define GPIO_PULL_UP 1u

/* LPUART1 */
#define LPUART1_BASE 0x40008000u
#define LPUART1_CR1 TG_REG32(LPUART1_BASE + 0x00u)
#define LPUART1_BRR TG_REG32(LPUART1_BASE + 0x0Cu)
#define LPUART1_ISR TG_REG32(LPUART1_BASE + 0x1Cu)
#define LPUART1_ICR TG_REG32(LPUART1_BASE + 0x20u)
#define LPUART1_RDR TG_REG32(LPUART1_BASE + 0x24u)
#define LPUART1_TDR TG_REG32(LPUART1_BASE + 0x28u)
#define LPUART_CR1_UE (1u << 0)
#define LPUART_CR1_RE (1u << 2)
#define LPUART_CR1_TE (1u << 3)
#define LPUART_CR1_FIFOEN (1u << 29)  /* 8-byte RX/TX FIFOs */
#define LPUART_ISR_ORE (1u << 3)
#define LPUART_ISR_RXNE (1u << 5)     /* RXFNE in FIFO mode: RX FIFO not empty */
#define LPUART_ISR_TXE (1u << 7)      /* TXFNF in FIFO mode: TX FIFO not full */
#define LPUART_ISR_TC (1u << 6)
#define LPUART_ICR_ORECF (1u << 3)
/* LPUART: BRR = 256 * f_ck / baud (RM0432 "LPUART baud rate generation"). */
#define LPUART_BRR_VALUE ((uint32_t)(((uint64_t)256u * MSI_RESET_HZ + VCP_BAUD / 2u) / VCP_BAUD))

static void gpio_pin_af(uint32_t pin, uint32_t af)
{
    uint32_t two = pin * 2u;
    GPIOG_MODER = (GPIOG_MODER & ~(3u << two)) | (GPIO_MODE_AF << two);
    GPIOG_OSPEEDR = (GPIOG_OSPEEDR & ~(3u << two)) | (GPIO_SPEED_HIGH << two);
    GPIOG_PUPDR = (GPIOG_PUPDR & ~(3u << two)) | (GPIO_PULL_UP << two);
    if (pin < 8u) {
        uint32_t four = pin * 4u;
        GPIOG_AFRL = (GPIOG_AFRL & ~(0xFu << four)) | (af << four);
    } else {
        uint32_t four = (pin - 8u) * 4u;
        GPIOG_AFRH = (GPIOG_AFRH & ~(0xFu << four)) | (af << four);
    }
}

void board_init(void)
{
    /* Port G lives on VDDIO2: enable the PWR interface and declare VDDIO2 valid. */
    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR1; /* read back: the clock is on before PWR is touched */
    PWR_CR2 |= PWR_CR2_IOSV;

    RCC_AHB2ENR |= RCC_AHB2ENR_GPIOGEN;
    RCC_CCIPR &= ~RCC_CCIPR_LPUART1SEL_MASK; /* LPUART1 clocked from PCLK1 = MSI 4 MHz */
    RCC_APB1ENR2 |= RCC_APB1ENR2_LPUART1EN;
    (void)RCC_APB1ENR2;

    gpio_pin_af(VCP_TX_PIN, GPIO_AF8_LPUART1);
    gpio_pin_af(VCP_RX_PIN, GPIO_AF8_LPUART1);

    LPUART1_CR1 = 0u;
    LPUART1_BRR = LPUART_BRR_VALUE; /* 8 data bits, no parity, 1 stop bit: the reset values */
    LPUART1_CR1 = LPUART_CR1_FIFOEN | LPUART_CR1_TE | LPUART_CR1_RE | LPUART_CR1_UE;

    tg_dwt_start();
}

int board_read_byte(void)
{
    for (;;) {
        uint32_t isr = LPUART1_ISR;
        if ((isr & LPUART_ISR_ORE) != 0u) {
            /* Bytes were lost; the protocol's CRCs notice, the host resends. */
            LPUART1_ICR = LPUART_ICR_ORECF;
        }
        if ((isr & LPUART_ISR_RXNE) != 0u) {
            return (int)(LPUART1_RDR & 0xFFu);
        }
    }
}

void board_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; ++i) {
        while ((LPUART1_ISR & LPUART_ISR_TXE) == 0u) {
        }
        LPUART1_TDR = data[i];
    }
    while ((LPUART1_ISR & LPUART_ISR_TC) == 0u) {
    }
}

uint64_t board_cycles(void)
{
    return tg_dwt_cycles();
}

const char *board_name(void)
{
    return "nucleo-l4r5zi";
}

const char *board_cycle_unit(void)
{
    return "cycles";
}
