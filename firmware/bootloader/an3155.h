/*
 * an3155.h - constants of the STM32 system-bootloader USART protocol
 * (ST application note AN3155), as served by tinygen's emulated bootloader.
 *
 * Frame rules: every command is a byte followed by its complement; every
 * address is 4 bytes MSB first followed by their XOR; the device answers
 * ACK or NACK after each part.
 */
#ifndef TG_AN3155_H
#define TG_AN3155_H

#define AN3155_SYNC 0x7Fu /* first byte after reset: the host's "hello" */
#define AN3155_ACK 0x79u
#define AN3155_NACK 0x1Fu

#define AN3155_CMD_GET 0x00u            /* version + supported commands */
#define AN3155_CMD_GET_VERSION 0x01u    /* version + 2 option bytes */
#define AN3155_CMD_GET_ID 0x02u         /* product ID */
#define AN3155_CMD_READ_MEMORY 0x11u    /* up to 256 bytes */
#define AN3155_CMD_GO 0x21u             /* jump to an image's vector table */
#define AN3155_CMD_WRITE_MEMORY 0x31u   /* up to 256 bytes */
#define AN3155_CMD_ERASE 0x43u          /* 1-byte page numbers (bootloader < 3.0) */
#define AN3155_CMD_EXTENDED_ERASE 0x44u /* 2-byte page numbers (bootloader >= 3.0) */

#define AN3155_MASS_ERASE 0xFFFFu  /* extended erase: whole flash */
#define AN3155_BANK1_ERASE 0xFFFEu /* extended erase: bank 1 */
#define AN3155_BANK2_ERASE 0xFFFDu /* extended erase: bank 2 */
#define AN3155_MAX_BLOCK 256u      /* bytes per READ/WRITE */

#endif /* TG_AN3155_H */
