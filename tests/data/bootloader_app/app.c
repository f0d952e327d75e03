/*
 * app.c - the smallest application for tinygen's emulated bootloader tests:
 * linked at 0x00010000 (the board's application region), it says hello on
 * UART0 and then answers every byte b with b + 1, so a test can tell that GO
 * started it.
 */
#include <stdint.h>

#define UART0 0x40004000u
#define REG(off) (*(volatile uint32_t *)(UART0 + (off)))
#define DATA 0x00u
#define STATE 0x04u
#define CTRL 0x08u
#define BAUDDIV 0x10u

extern uint32_t __stack_top;
void app_reset(void);

__attribute__((section(".isr_vector"), used))
static const void *const vectors[2] = {&__stack_top, (const void *)app_reset};

static void put(uint8_t b)
{
    while (REG(STATE) & 1u) {
    }
    REG(DATA) = b;
}

void app_reset(void)
{
    static const char hello[] = "tinygen test app\n";
    REG(CTRL) = 0u;
    REG(BAUDDIV) = 217u;
    REG(CTRL) = 3u;
    for (const char *p = hello; *p; ++p) {
        put((uint8_t)*p);
    }
    for (;;) {
        while ((REG(STATE) & 2u) == 0u) {
        }
        put((uint8_t)(REG(DATA) + 1u));
    }
}
