/*
 * protocol.c - framing, CRCs and resynchronisation of the device protocol.
 * The frame layout is documented in protocol.h and docs/protocol.md.
 */
#include "protocol.h"

#include "board.h"

#include <stddef.h>

/* CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection. */
uint16_t tg_crc16(uint16_t crc, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; ++i) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), four bits at a time:
 * a 16-entry table is a small flash cost for an 8x speed-up over bit-wise. */
static const uint32_t crc32_nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t tg_crc32_update(uint32_t state, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; ++i) {
        state ^= data[i];
        state = (state >> 4) ^ crc32_nibble_table[state & 0x0Fu];
        state = (state >> 4) ^ crc32_nibble_table[state & 0x0Fu];
    }
    return state;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int tg_proto_read_header(tg_frame_header *header)
{
    uint8_t bytes[8]; /* type, seq, length[4], header_crc[2] */
    for (;;) {
        /* Hunt for 0xA5 0x5A; a 0xA5 followed by 0xA5 may still start a frame. */
        int c = board_read_byte();
        if (c < 0) {
            return -1;
        }
        if ((uint8_t)c != TG_PROTO_SYNC0) {
            continue;
        }
        do {
            c = board_read_byte();
            if (c < 0) {
                return -1;
            }
        } while ((uint8_t)c == TG_PROTO_SYNC0);
        if ((uint8_t)c != TG_PROTO_SYNC1) {
            continue;
        }
        for (int i = 0; i < 8; ++i) {
            c = board_read_byte();
            if (c < 0) {
                return -1;
            }
            bytes[i] = (uint8_t)c;
        }
        uint16_t want = (uint16_t)(bytes[6] | (bytes[7] << 8));
        if (tg_crc16(0xFFFFu, bytes, 6) != want) {
            continue; /* a corrupted header or sync bytes inside garbage: hunt on */
        }
        header->type = bytes[0];
        header->seq = bytes[1];
        header->length = get_u32(&bytes[2]);
        header->crc = tg_crc32_update(0xFFFFFFFFu, bytes, 6);
        return 0;
    }
}

int tg_proto_read_payload_parts(tg_frame_header *header, uint8_t *const parts[], const uint32_t sizes[],
                                uint32_t count)
{
    uint8_t tail[4];
    uint32_t crc = header->crc;
    for (uint32_t p = 0; p < count; ++p) {
        uint8_t *buf = parts[p];
        for (uint32_t i = 0; i < sizes[p]; ++i) {
            int c = board_read_byte();
            if (c < 0) {
                return -1;
            }
            buf[i] = (uint8_t)c;
        }
        crc = tg_crc32_update(crc, buf, sizes[p]);
    }
    for (int i = 0; i < 4; ++i) {
        int c = board_read_byte();
        if (c < 0) {
            return -1;
        }
        tail[i] = (uint8_t)c;
    }
    return ~crc == get_u32(tail) ? 0 : 1;
}

int tg_proto_read_payload(tg_frame_header *header, uint8_t *buf)
{
    uint8_t *const parts[1] = {buf};
    const uint32_t sizes[1] = {header->length};
    return tg_proto_read_payload_parts(header, parts, sizes, 1u);
}

static uint32_t tx_crc;

void tg_proto_begin(uint8_t type, uint8_t seq, uint32_t length)
{
    uint8_t head[TG_PROTO_HEADER_BYTES];
    head[0] = TG_PROTO_SYNC0;
    head[1] = TG_PROTO_SYNC1;
    head[2] = type;
    head[3] = seq;
    put_u32(&head[4], length);
    uint16_t hcrc = tg_crc16(0xFFFFu, &head[2], 6);
    head[8] = (uint8_t)hcrc;
    head[9] = (uint8_t)(hcrc >> 8);
    tx_crc = tg_crc32_update(0xFFFFFFFFu, &head[2], 6);
    board_write(head, TG_PROTO_HEADER_BYTES);
}

void tg_proto_put(const uint8_t *data, uint32_t len)
{
    tx_crc = tg_crc32_update(tx_crc, data, len);
    board_write(data, len);
}

void tg_proto_end(void)
{
    uint8_t tail[4];
    put_u32(tail, ~tx_crc);
    board_write(tail, 4);
}

void tg_proto_error(uint8_t seq, uint8_t code, const char *message)
{
    uint32_t n = 0;
    while (message[n] != '\0') {
        ++n;
    }
    tg_proto_begin(TG_RSP_ERROR, seq, n + 1u);
    tg_proto_put(&code, 1);
    tg_proto_put((const uint8_t *)message, n);
    tg_proto_end();
}
