/*
 * bootloader.c - an STM32-style system bootloader (ST AN3155, USART protocol)
 * for the emulated board, so that `tinygen flash`, stm32flash and any other
 * AN3155 flasher program it exactly as they would a real STM32 with BOOT0 high.
 *
 * At reset: without the BOOT0 flag and with a valid application in place, the
 * application starts at once. Otherwise the bootloader waits for the sync byte
 * 0x7F on UART0, answers ACK and serves commands until GO.
 *
 * Addresses and the emulated flash: see emulated_stm32.h.
 */
#include <stdint.h>

#include "an3155.h"
#include "emulated_stm32.h"

#define KIB 1024u

/* The commands GET announces, after the version byte. */
static const uint8_t supported_commands[] = {
    AN3155_CMD_GET,          AN3155_CMD_GET_VERSION, AN3155_CMD_GET_ID,
    AN3155_CMD_READ_MEMORY,  AN3155_CMD_GO,          AN3155_CMD_WRITE_MEMORY,
    AN3155_CMD_EXTENDED_ERASE,
};

static uint8_t block[AN3155_MAX_BLOCK];

/* ---- serial ------------------------------------------------------------- */

/*
 * Waiting for a byte sleeps (WFI) instead of spinning on the status register:
 * under QEMU a spinning core holds the emulator's I/O lock and starves the
 * serial backend, and burns a host core. The UART's RX interrupt is enabled
 * only as a wake-up source: PRIMASK keeps it from being taken (WFI wakes on a
 * pending interrupt regardless), so the bootloader needs no handler.
 */
static void rx_wakeup_enable(void)
{
    __asm volatile("cpsid i" : : : "memory");
    TG_UART_REG(TG_UART_CTRL) |= TG_UART_CTRL_RX_INT_EN;
    TG_NVIC_ISER0 = 1u << TG_UART0_RX_IRQ;
}

/* Leave the core as reset did: no UART interrupt enabled or pending, PRIMASK clear. */
static void rx_wakeup_disable(void)
{
    TG_UART_REG(TG_UART_CTRL) &= ~TG_UART_CTRL_RX_INT_EN;
    TG_UART_REG(TG_UART_INTCLEAR) = TG_UART_INT_RX;
    TG_NVIC_ICER0 = 1u << TG_UART0_RX_IRQ;
    TG_NVIC_ICPR0 = 1u << TG_UART0_RX_IRQ;
    __asm volatile("cpsie i" : : : "memory");
}

static uint8_t get_byte(void)
{
    while ((TG_UART_REG(TG_UART_STATE) & TG_UART_STATE_RX_FULL) == 0u) {
        __asm volatile("wfi" : : : "memory");
    }
    uint8_t byte = (uint8_t)TG_UART_REG(TG_UART_DATA);
    TG_UART_REG(TG_UART_INTCLEAR) = TG_UART_INT_RX; /* write 1 to clear */
    TG_NVIC_ICPR0 = 1u << TG_UART0_RX_IRQ;
    return byte;
}

static void uart_init(void)
{
    TG_UART_REG(TG_UART_CTRL) = 0u;
    TG_UART_REG(TG_UART_BAUDDIV) = TG_SYSCLK_HZ / TG_BAUD;
    TG_UART_REG(TG_UART_CTRL) = TG_UART_CTRL_TX_EN | TG_UART_CTRL_RX_EN;
}

static void put_byte(uint8_t byte)
{
    while ((TG_UART_REG(TG_UART_STATE) & TG_UART_STATE_TX_FULL) != 0u) {
    }
    TG_UART_REG(TG_UART_DATA) = byte;
}

static void wait_tx_idle(void)
{
    while ((TG_UART_REG(TG_UART_STATE) & TG_UART_STATE_TX_FULL) != 0u) {
    }
}

/* Four address bytes, MSB first, then their XOR. Returns 0 on a bad checksum. */
static int get_address(uint32_t *address)
{
    uint8_t check = 0u;
    uint32_t value = 0u;
    for (unsigned i = 0; i < 4u; ++i) {
        uint8_t b = get_byte();
        check ^= b;
        value = (value << 8) | b;
    }
    *address = value;
    return get_byte() == check;
}

/* ---- memory regions ----------------------------------------------------- */

enum region { REGION_NONE, REGION_FLASH, REGION_RAM };

/* Where [address, address + len) lives; *local is the board address. */
static enum region locate(uint32_t address, uint32_t len, uint32_t *local)
{
    if (address >= TG_FLASH_BASE && address - TG_FLASH_BASE < TG_FLASH_SIZE
        && len <= TG_FLASH_SIZE - (address - TG_FLASH_BASE)) {
        *local = TG_APP_EXEC_BASE + (address - TG_FLASH_BASE);
        return REGION_FLASH;
    }
    if (address >= TG_RAM_BASE && address < TG_RAM_USER_END
        && len <= TG_RAM_USER_END - address) {
        *local = address;
        return REGION_RAM;
    }
    return REGION_NONE;
}

static uint32_t sector_offset(unsigned sector)
{
    if (sector < 4u) {
        return sector * 16u * KIB;
    }
    if (sector == 4u) {
        return 64u * KIB;
    }
    return (sector - 4u) * 128u * KIB;
}

static void erase_sector(unsigned sector)
{
    uint32_t start = sector_offset(sector);
    uint32_t end = sector + 1u < TG_FLASH_SECTORS ? sector_offset(sector + 1u) : TG_FLASH_SIZE;
    volatile uint32_t *word = (volatile uint32_t *)(uintptr_t)(TG_APP_EXEC_BASE + start);
    for (uint32_t n = (end - start) / 4u; n > 0u; --n) {
        *word++ = 0xFFFFFFFFu;
    }
}

static void erase_all(void)
{
    for (unsigned s = 0; s < TG_FLASH_SECTORS; ++s) {
        erase_sector(s);
    }
}

/* A plausible vector table at `base`: stack pointer in RAM, Thumb reset
 * handler in the application region (or, when ram_code, in user RAM too). */
static int image_valid(uint32_t base, int ram_code)
{
    const volatile uint32_t *vectors = (const volatile uint32_t *)(uintptr_t)base;
    uint32_t sp = vectors[0];
    uint32_t pc = vectors[1];
    uint32_t entry = pc & ~1u;
    int sp_ok = sp > TG_RAM_BASE && sp <= TG_RAM_END && (sp & 3u) == 0u;
    int in_app = entry >= TG_APP_EXEC_BASE && entry - TG_APP_EXEC_BASE < TG_FLASH_SIZE;
    int in_ram = ram_code && entry >= TG_RAM_BASE && entry < TG_RAM_USER_END;
    return sp_ok && (pc & 1u) != 0u && (in_app || in_ram);
}

/* Hand the core to the image whose vector table is at `base`, as a reset
 * would: VTOR, main stack pointer, reset handler. */
__attribute__((noreturn)) static void start_image(uint32_t base)
{
    const volatile uint32_t *vectors = (const volatile uint32_t *)(uintptr_t)base;
    uint32_t sp = vectors[0];
    uint32_t pc = vectors[1];
    wait_tx_idle();
    rx_wakeup_disable();
    TG_SCB_VTOR = base & ~0x7Fu;
    __asm volatile("dsb\n\tisb\n\tmsr msp, %0\n\tbx %1\n" : : "r"(sp), "r"(pc) : "memory");
    __builtin_unreachable();
}

/* ---- commands ----------------------------------------------------------- */

static void cmd_get(void)
{
    put_byte(AN3155_ACK);
    put_byte((uint8_t)sizeof(supported_commands)); /* bytes that follow - 1 */
    put_byte(TG_BOOTLOADER_VERSION);
    for (unsigned i = 0; i < sizeof(supported_commands); ++i) {
        put_byte(supported_commands[i]);
    }
    put_byte(AN3155_ACK);
}

static void cmd_get_version(void)
{
    put_byte(AN3155_ACK);
    put_byte(TG_BOOTLOADER_VERSION);
    put_byte(0x00u); /* option bytes: no read protection */
    put_byte(0x00u);
    put_byte(AN3155_ACK);
}

static void cmd_get_id(void)
{
    put_byte(AN3155_ACK);
    put_byte(1u); /* two bytes follow */
    put_byte((uint8_t)(TG_PRODUCT_ID >> 8));
    put_byte((uint8_t)(TG_PRODUCT_ID & 0xFFu));
    put_byte(AN3155_ACK);
}

static void cmd_read_memory(void)
{
    uint32_t address, local;
    put_byte(AN3155_ACK);
    if (!get_address(&address) || locate(address, 1u, &local) == REGION_NONE) {
        put_byte(AN3155_NACK);
        return;
    }
    put_byte(AN3155_ACK);
    uint8_t n = get_byte();
    uint8_t complement = get_byte();
    uint32_t len = (uint32_t)n + 1u;
    if ((uint8_t)(n ^ complement) != 0xFFu || locate(address, len, &local) == REGION_NONE) {
        put_byte(AN3155_NACK);
        return;
    }
    put_byte(AN3155_ACK);
    const volatile uint8_t *src = (const volatile uint8_t *)(uintptr_t)local;
    for (uint32_t i = 0; i < len; ++i) {
        put_byte(src[i]);
    }
}

static void cmd_write_memory(void)
{
    uint32_t address, local;
    put_byte(AN3155_ACK);
    if (!get_address(&address) || locate(address, 1u, &local) == REGION_NONE) {
        put_byte(AN3155_NACK);
        return;
    }
    put_byte(AN3155_ACK);
    uint8_t n = get_byte();
    uint32_t len = (uint32_t)n + 1u;
    uint8_t check = n;
    for (uint32_t i = 0; i < len; ++i) {
        block[i] = get_byte();
        check ^= block[i];
    }
    if (get_byte() != check) {
        put_byte(AN3155_NACK);
        return;
    }
    enum region region = locate(address, len, &local);
    volatile uint8_t *dst = (volatile uint8_t *)(uintptr_t)local;
    if (region == REGION_NONE) {
        put_byte(AN3155_NACK);
        return;
    }
    if (region == REGION_FLASH) {
        /* Flash programming only clears bits: refuse what needs an erase. */
        for (uint32_t i = 0; i < len; ++i) {
            if ((uint8_t)(dst[i] & block[i]) != block[i]) {
                put_byte(AN3155_NACK);
                return;
            }
        }
    }
    for (uint32_t i = 0; i < len; ++i) {
        dst[i] = block[i];
    }
    put_byte(AN3155_ACK);
}

/* The end both erase commands share: the host's XOR check byte must equal
 * `check` and every page must exist; then erase the `selected` sectors (a bit
 * per sector) and ACK, or erase nothing and NACK. */
static void finish_erase(uint32_t selected, int bad, uint8_t check)
{
    if (get_byte() != check || bad) {
        put_byte(AN3155_NACK);
        return;
    }
    for (unsigned s = 0; s < TG_FLASH_SECTORS; ++s) {
        if ((selected >> s) & 1u) {
            erase_sector(s);
        }
    }
    put_byte(AN3155_ACK);
}

/* ERASE (0x43): N = pages - 1 then N + 1 one-byte page numbers and the XOR
 * of all; or 0xFF 0x00 for the whole flash. */
static void cmd_erase(void)
{
    put_byte(AN3155_ACK);
    uint8_t n = get_byte();
    if (n == 0xFFu) {
        if (get_byte() != 0x00u) {
            put_byte(AN3155_NACK);
            return;
        }
        erase_all();
        put_byte(AN3155_ACK);
        return;
    }
    uint8_t check = n;
    uint32_t selected = 0u; /* bit per sector */
    int bad = 0;
    for (uint32_t i = 0; i <= n; ++i) {
        uint8_t page = get_byte();
        check ^= page;
        if (page >= TG_FLASH_SECTORS) {
            bad = 1;
        } else {
            selected |= 1u << page;
        }
    }
    finish_erase(selected, bad, check);
}

/* EXTENDED ERASE (0x44): 2-byte N (MSB first) = pages - 1, then N + 1 two-byte
 * page numbers, then the XOR of every byte; or a special N (0xFFFF whole
 * flash, 0xFFFE bank 1 = the whole single bank here; 0xFFFD bank 2: none)
 * followed by the XOR of its two bytes. */
static void cmd_extended_erase(void)
{
    put_byte(AN3155_ACK);
    uint8_t hi = get_byte();
    uint8_t lo = get_byte();
    uint32_t n = ((uint32_t)hi << 8) | lo;
    uint8_t check = (uint8_t)(hi ^ lo);
    if (n >= 0xFFF0u) {
        int ok = get_byte() == check && (n == AN3155_MASS_ERASE || n == AN3155_BANK1_ERASE);
        if (ok) {
            erase_all();
        }
        put_byte(ok ? AN3155_ACK : AN3155_NACK);
        return;
    }
    uint32_t selected = 0u;
    int bad = 0;
    for (uint32_t i = 0; i <= n; ++i) {
        uint8_t page_hi = get_byte();
        uint8_t page_lo = get_byte();
        uint32_t page = ((uint32_t)page_hi << 8) | page_lo;
        check ^= (uint8_t)(page_hi ^ page_lo);
        if (page >= TG_FLASH_SECTORS) {
            bad = 1;
        } else {
            selected |= 1u << page;
        }
    }
    finish_erase(selected, bad, check);
}

/* GO: the address names a vector table (flash window or RAM); the image
 * starts from its stack pointer and reset handler. */
static void cmd_go(void)
{
    uint32_t address, local;
    put_byte(AN3155_ACK);
    if (!get_address(&address)) {
        put_byte(AN3155_NACK);
        return;
    }
    if (locate(address, 8u, &local) == REGION_NONE || !image_valid(local, 1)) {
        put_byte(AN3155_NACK);
        return;
    }
    put_byte(AN3155_ACK);
    start_image(local);
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
    int boot0 = TG_REG32(TG_BOOT0_FLAG_ADDR) == TG_BOOT0_MAGIC;
    if (!boot0 && image_valid(TG_APP_EXEC_BASE, 0)) {
        start_image(TG_APP_EXEC_BASE);
    }

    uart_init();
    rx_wakeup_enable();

    /* Wait for the host's sync byte; anything else is line noise. */
    while (get_byte() != AN3155_SYNC) {
    }
    put_byte(AN3155_ACK);

    for (;;) {
        uint8_t command = get_byte();
        if (command == AN3155_SYNC) {
            /* A host syncing again: already synced, say so at once. */
            put_byte(AN3155_NACK);
            continue;
        }
        if ((uint8_t)(command ^ get_byte()) != 0xFFu) {
            put_byte(AN3155_NACK);
            continue;
        }
        switch (command) {
        case AN3155_CMD_GET: cmd_get(); break;
        case AN3155_CMD_GET_VERSION: cmd_get_version(); break;
        case AN3155_CMD_GET_ID: cmd_get_id(); break;
        case AN3155_CMD_READ_MEMORY: cmd_read_memory(); break;
        case AN3155_CMD_WRITE_MEMORY: cmd_write_memory(); break;
        case AN3155_CMD_ERASE: cmd_erase(); break;
        case AN3155_CMD_EXTENDED_ERASE: cmd_extended_erase(); break;
        case AN3155_CMD_GO: cmd_go(); break;
        default: put_byte(AN3155_NACK); break;
        }
    }
}
