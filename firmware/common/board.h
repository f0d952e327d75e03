/*
 * board.h - the five functions a board (target) gives tinygen's firmware.
 *
 * The main loop (firmware/common/main.c) and the device protocol
 * (firmware/common/protocol.c) only talk to the outside world through this
 * interface. Each target implements it once: firmware/host/board_host.c for
 * the native host program (stdin/stdout), and one file per Cortex-M board
 * (UART + cycle counter).
 */
#ifndef TG_BOARD_H
#define TG_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bring up clocks, the serial port and the cycle counter. Called once. */
void board_init(void);

/* Blocking read of one byte from the host link: 0..255, or -1 when the input
 * is closed (host stdin EOF); the main loop then returns. */
int board_read_byte(void);

/* Write len bytes to the host link (blocking until queued/sent). */
void board_write(const uint8_t *data, uint32_t len);

/* A monotonically increasing cycle/instruction/time count, in the unit that
 * board_cycle_unit() names (host: nanoseconds). */
uint64_t board_cycles(void);

/* A short name of the board, e.g. "host", "mps2-an386". */
const char *board_name(void);

/* The unit of board_cycles(): "ns", "cycles" or "instructions". */
const char *board_cycle_unit(void);

#ifdef __cplusplus
}
#endif

#endif /* TG_BOARD_H */
