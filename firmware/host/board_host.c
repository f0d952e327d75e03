/*
 * board_host.c - the host "board": a native program whose serial link is
 * stdin/stdout and whose cycle counter is CLOCK_MONOTONIC in nanoseconds.
 */
#define _POSIX_C_SOURCE 200809L

#include "board.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

static uint8_t rx_buffer[4096];
static ssize_t rx_count;
static ssize_t rx_next;

void board_init(void)
{
    rx_count = 0;
    rx_next = 0;
}

int board_read_byte(void)
{
    while (rx_next >= rx_count) {
        ssize_t n = read(STDIN_FILENO, rx_buffer, sizeof rx_buffer);
        if (n == 0) {
            return -1; /* stdin closed */
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        rx_count = n;
        rx_next = 0;
    }
    return rx_buffer[rx_next++];
}

void board_write(const uint8_t *data, uint32_t len)
{
    while (len > 0u) {
        ssize_t n = write(STDOUT_FILENO, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* the host went away; the next read sees EOF */
        }
        data += n;
        len -= (uint32_t)n;
    }
}

uint64_t board_cycles(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

const char *board_name(void)
{
    return "host";
}

const char *board_cycle_unit(void)
{
    return "ns";
}
