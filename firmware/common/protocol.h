/*
 * protocol.h - tinygen's device protocol, device side (see docs/protocol.md).
 *
 * Frame on the wire (all integers little-endian):
 *
 *   offset size field
 *   0      2    sync        0xA5 0x5A
 *   2      1    type        command (host->device) or response (device->host)
 *   3      1    seq         chosen by the host, echoed in the response
 *   4      4    length      payload length in bytes
 *   8      2    header_crc  CRC-16/CCITT-FALSE over bytes 2..7
 *   10     n    payload
 *   10+n   4    crc         CRC-32 (IEEE, as zlib.crc32) over bytes 2..7 and the payload
 *
 * The receiver hunts for the sync bytes, so garbage between frames is skipped;
 * the header CRC rejects a corrupted length before any payload is awaited.
 */
#ifndef TG_PROTOCOL_H
#define TG_PROTOCOL_H

#include <stdint.h>

#define TG_PROTO_SYNC0 0xA5u
#define TG_PROTO_SYNC1 0x5Au
#define TG_PROTO_HEADER_BYTES 10u /* sync + type + seq + length + header_crc */
#define TG_PROTO_VERSION 1u

/* Commands (host -> device). A response carries the command | 0x80. */
#define TG_CMD_INFO 0x01u    /* ()            -> JSON description of board and model */
#define TG_CMD_INVOKE 0x02u  /* (input bytes) -> u64 cycles, output bytes */
#define TG_CMD_PROFILE 0x03u /* ()            -> u32 n, n x u64 cycles per layer of the last invoke */
#define TG_CMD_PING 0x04u    /* (any <= TG_PROTO_PING_MAX bytes) -> the same bytes */
#define TG_RESPONSE_FLAG 0x80u
#define TG_RSP_ERROR 0xFFu   /* u8 error code, then an ASCII message */

#define TG_PROTO_PING_MAX 256u

/* Error codes carried by TG_RSP_ERROR. */
#define TG_ERR_CRC 1u          /* payload CRC mismatch: the host should resend */
#define TG_ERR_LENGTH 2u       /* payload length wrong for the command */
#define TG_ERR_COMMAND 3u      /* unknown command */
#define TG_ERR_UNSUPPORTED 4u  /* known command this build cannot do (e.g. PROFILE off) */
#define TG_ERR_STATE 5u        /* e.g. PROFILE before any INVOKE */

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint32_t length;
    uint32_t crc; /* running CRC-32 state over header and payload (internal) */
} tg_frame_header;

uint16_t tg_crc16(uint16_t crc, const uint8_t *data, uint32_t len);
/* Running CRC-32: start with tg_crc32_update(0xFFFFFFFF, ...), finish with ~state. */
uint32_t tg_crc32_update(uint32_t state, const uint8_t *data, uint32_t len);

/* Waits for the next frame header whose header CRC is right.
 * Returns 0, or -1 when the input is closed. */
int tg_proto_read_header(tg_frame_header *header);

/* Reads header->length payload bytes into buf and checks the frame CRC.
 * Returns 0 (good), 1 (CRC mismatch), or -1 (input closed). */
int tg_proto_read_payload(tg_frame_header *header, uint8_t *buf);

/* As tg_proto_read_payload, scattering the payload over count buffers of the
 * given sizes (which add up to header->length). */
int tg_proto_read_payload_parts(tg_frame_header *header, uint8_t *const parts[], const uint32_t sizes[],
                                uint32_t count);

/* Writes one frame in pieces: begin (header), put (payload, any number of
 * calls whose sizes add up to length), end (CRC). */
void tg_proto_begin(uint8_t type, uint8_t seq, uint32_t length);
void tg_proto_put(const uint8_t *data, uint32_t len);
void tg_proto_end(void);

/* A TG_RSP_ERROR frame. */
void tg_proto_error(uint8_t seq, uint8_t code, const char *message);

#endif /* TG_PROTOCOL_H */
