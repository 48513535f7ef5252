/* tide/serial.h - the serial port driver (libserialport).
 *
 * Opens a port by name (/dev/ttyUSB0, /dev/pts/3, COM4) at a baud rate,
 * 8 data bits, no parity, 1 stop bit, optional RTS/CTS flow control, raw
 * and non-blocking.  The port is locked (flock) so a second tide on the
 * same port gets TIDE_E_SERIAL_BUSY instead of interleaving bytes.
 *
 * Errors (codes in tide/link.h, message in err): TIDE_E_SERIAL_NOPORT "no
 * such port", TIDE_E_PERM "permission denied" (the message suggests the
 * dialout group), TIDE_E_SERIAL_BUSY "port busy", TIDE_E_SERIAL_GONE
 * "unplugged" (the device vanished while open), TIDE_E_SERIAL_CONFIG (the
 * port refused baud or flow control), TIDE_E_IO otherwise; the message
 * carries the OS's text.
 *
 * Thread safety: one port, one thread. */
#ifndef TIDE_SERIAL_H
#define TIDE_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "tide/common.h"
#include "tide/link.h"

typedef struct tide_serial tide_serial;

/* Opens and configures the port.  *out is NULL on failure.  Close with
 * tide_serial_close(). */
TIDE_WUR int tide_serial_open(tide_serial **out, const char *name, uint32_t baud, int rtscts,
                              tide_error *err);

/* Closes the port; NULL is a no-op. */
void tide_serial_close(tide_serial *s);

/* Reads what is available now (never blocks) into buf; *got may be 0.
 * TIDE_E_SERIAL_GONE when the device went away, TIDE_E_IO. */
TIDE_WUR int tide_serial_read(tide_serial *s, uint8_t *buf, size_t cap, size_t *got,
                              tide_error *err);

/* Writes all len bytes, waiting (up to timeout_ms in total) while the
 * output buffer is full.  TIDE_E_TIMEOUT when the line does not drain in
 * time (RTS/CTS held off), TIDE_E_SERIAL_GONE, TIDE_E_IO. */
TIDE_WUR int tide_serial_write(tide_serial *s, const uint8_t *buf, size_t len, uint32_t timeout_ms,
                               tide_error *err);

/* Waits until input is available or timeout_ms passes (0: just check).
 * *readable says which.  TIDE_E_SERIAL_GONE when the device hung up. */
TIDE_WUR int tide_serial_wait(tide_serial *s, uint32_t timeout_ms, int *readable, tide_error *err);

/* The port's file descriptor, for poll() next to other descriptors;
 * owned by the port. */
int tide_serial_fd(const tide_serial *s);

/* The port's name as opened. */
const char *tide_serial_name(const tide_serial *s);

/* Maps an errno value from opening or using a port to a tide error code
 * (ENOENT/ENODEV/ENXIO -> NOPORT when opening, GONE afterwards; EACCES/EPERM
 * -> TIDE_E_PERM; EBUSY/EWOULDBLOCK on the lock -> BUSY; else TIDE_E_IO). */
int tide_serial_errno_code(int errnum, int opening);

#endif
