/*
 * tg_main.c - the firmware's main loop: serve the device protocol forever.
 *
 * Shared by every target: a board provides board.h, the generated project
 * provides model.h (the model's generic entry points, tg_model_*). Requests
 * are answered in order; a frame that fails its CRC gets a TG_ERR_CRC reply so
 * the host resends it. The model input is received straight into its place in
 * the arena and the output is sent straight from it: no extra RAM for I/O.
 */
#include "board.h"
#include "model.h"
#include "protocol.h"

#include <stdint.h>
#include <string.h>

#ifdef TG_PROFILE
#define TG_PROFILE_ENABLED "true"
#else
#define TG_PROFILE_ENABLED "false"
#endif

static uint8_t ping_buffer[TG_PROTO_PING_MAX];
static int have_invoked;

#ifdef TG_PROFILE
static void put_u32_le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
#endif

static void put_u64_le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void send_info(uint8_t seq)
{
    const char *parts[] = {
        "{\"protocol\":1,\"board\":\"", board_name(),
        "\",\"cycle_unit\":\"", board_cycle_unit(),
        "\",\"profile\":", TG_PROFILE_ENABLED,
        ",\"model\":", tg_model_info_json, "}",
    };
    const unsigned count = (unsigned)(sizeof parts / sizeof parts[0]);
    uint32_t total = 0;
    for (unsigned i = 0; i < count; ++i) {
        total += (uint32_t)strlen(parts[i]);
    }
    tg_proto_begin(TG_CMD_INFO | TG_RESPONSE_FLAG, seq, total);
    for (unsigned i = 0; i < count; ++i) {
        tg_proto_put((const uint8_t *)parts[i], (uint32_t)strlen(parts[i]));
    }
    tg_proto_end();
}

static void send_profile(uint8_t seq)
{
#ifdef TG_PROFILE
    uint8_t word[8];
    if (!have_invoked) {
        tg_proto_error(seq, TG_ERR_STATE, "no invoke yet");
        return;
    }
    tg_proto_begin(TG_CMD_PROFILE | TG_RESPONSE_FLAG, seq, 4u + 8u * TG_MODEL_LAYER_COUNT);
    put_u32_le(word, TG_MODEL_LAYER_COUNT);
    tg_proto_put(word, 4);
    for (uint32_t i = 0; i < TG_MODEL_LAYER_COUNT; ++i) {
        put_u64_le(word, tg_model_layer_cycles[i]);
        tg_proto_put(word, 8);
    }
    tg_proto_end();
#else
    tg_proto_error(seq, TG_ERR_UNSUPPORTED, "built without TG_PROFILE");
#endif
}

static int serve_one(void)
{
    tg_frame_header header;
    if (tg_proto_read_header(&header) != 0) {
        return -1;
    }
    int status;
    switch (header.type) {
    case TG_CMD_INFO:
    case TG_CMD_PROFILE:
        if (header.length != 0u) {
            tg_proto_error(header.seq, TG_ERR_LENGTH, "expected an empty payload");
            return 0;
        }
        status = tg_proto_read_payload(&header, ping_buffer);
        if (status != 0) {
            break;
        }
        if (header.type == TG_CMD_INFO) {
            send_info(header.seq);
        } else {
            send_profile(header.seq);
        }
        return 0;
    case TG_CMD_PING:
        if (header.length > TG_PROTO_PING_MAX) {
            tg_proto_error(header.seq, TG_ERR_LENGTH, "ping payload too long");
            return 0;
        }
        status = tg_proto_read_payload(&header, ping_buffer);
        if (status != 0) {
            break;
        }
        tg_proto_begin(TG_CMD_PING | TG_RESPONSE_FLAG, header.seq, header.length);
        tg_proto_put(ping_buffer, header.length);
        tg_proto_end();
        return 0;
    case TG_CMD_INVOKE: {
        if (header.length != TG_MODEL_INPUT_BYTES) {
            tg_proto_error(header.seq, TG_ERR_LENGTH, "input length differs from the model's input size");
            return 0;
        }
        status = tg_proto_read_payload_parts(&header, tg_model_input_parts, tg_model_input_part_bytes,
                                             TG_MODEL_INPUT_COUNT);
        if (status != 0) {
            break;
        }
        uint64_t start = board_cycles();
        tg_model_run();
        uint64_t cycles = board_cycles() - start;
        have_invoked = 1;
        uint8_t word[8];
        put_u64_le(word, cycles);
        tg_proto_begin(TG_CMD_INVOKE | TG_RESPONSE_FLAG, header.seq, 8u + TG_MODEL_OUTPUT_BYTES);
        tg_proto_put(word, 8);
        for (uint32_t i = 0; i < TG_MODEL_OUTPUT_COUNT; ++i) {
            tg_proto_put(tg_model_output_parts[i], tg_model_output_part_bytes[i]);
        }
        tg_proto_end();
        return 0;
    }
    default:
        tg_proto_error(header.seq, TG_ERR_COMMAND, "unknown command");
        return 0;
    }
    if (status < 0) {
        return -1;
    }
    tg_proto_error(header.seq, TG_ERR_CRC, "frame CRC mismatch");
    return 0;
}

int main(void)
{
    board_init();
    while (serve_one() == 0) {
    }
    return 0;
}
