/* tide/common.h - library-wide definitions: error codes, error details,
 * initialisation.
 *
 * Error convention: every fallible function returns int, 0 on success or a
 * negative TIDE_E_* code.  Codes live in ranges per module (generic -1..-99,
 * json -100.., keys -200.., msg -300.., store -400.., ebt -500..,
 * frame -600.., bundle -700.., serial -800.., tcp -900..).
 * Functions that can say more take an optional `tide_error *` and fill its
 * message (NUL-terminated, never NULL) and byte offset.
 *
 * Thread safety: tide_init() must run once before other calls; after that
 * every function here is thread-safe. */
#ifndef TIDE_COMMON_H
#define TIDE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define TIDE_WUR               __attribute__((warn_unused_result))
#define TIDE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TIDE_WUR
#define TIDE_PRINTF(fmt, args)
#endif

enum {
  TIDE_OK = 0,
  /* generic */
  TIDE_E_NOMEM = -1,    /* allocation failed */
  TIDE_E_INVAL = -2,    /* invalid argument or input */
  TIDE_E_IO = -3,       /* operating-system I/O error */
  TIDE_E_TOOBIG = -4,   /* input or output exceeds a limit */
  TIDE_E_NOTFOUND = -5, /* no such item */
  TIDE_E_EXISTS = -6,   /* item already exists (never overwritten) */
  TIDE_E_PERM = -7,     /* permission denied */
  TIDE_E_INTERNAL = -8, /* broken invariant: a bug in tide */
  TIDE_E_BUFSIZE = -9,  /* caller's buffer too small */
  TIDE_E_AGAIN = -10,   /* nothing to do now; retry later */
  TIDE_E_CLOSED = -11,  /* the peer or link is closed */
  TIDE_E_TIMEOUT = -12, /* an operation timed out */
  /* json */
  TIDE_E_JSON_SYNTAX = -100, /* not JSON */
  TIDE_E_JSON_DEPTH = -101,  /* nesting deeper than the limit */
  TIDE_E_JSON_UTF8 = -102,   /* text is not valid UTF-8 */
  /* keys and ids */
  TIDE_E_KEY_FORMAT = -200, /* malformed key, id or secret file */
  TIDE_E_KEY_CURVE = -201,  /* unsupported curve or id suffix */
  /* messages */
  TIDE_E_MSG_INVALID = -300,   /* message rejected: the detail says why */
  TIDE_E_MSG_SIGNATURE = -301, /* signature does not verify */
  /* store */
  TIDE_E_STORE = -400,         /* SQLite error (detail carries SQLite's message) */
  TIDE_E_STORE_GAP = -401,     /* sequence is not latest+1 */
  TIDE_E_STORE_FORK = -402,    /* a different message exists at this sequence */
  TIDE_E_STORE_FORKED = -403,  /* the feed is marked forked: no more appends */
  TIDE_E_STORE_CORRUPT = -404, /* store content fails a consistency check */
  TIDE_E_STORE_SCHEMA = -405,  /* store made by an unknown tide version */
};

/* Maximum length of an error message, including the NUL. */
#define TIDE_ERROR_MSG_BYTES 512

/* Details of a failure.  `code` repeats the returned code; `offset` is a
 * byte offset into the input where it applies (else 0); `fatal` mirrors
 * ssb-validate's notion for message errors. */
typedef struct tide_error {
  int code;
  int fatal;
  size_t offset;
  char msg[TIDE_ERROR_MSG_BYTES];
} tide_error;

/* Initialises libsodium; call once before any other function.  Returns 0,
 * or TIDE_E_INTERNAL when libsodium cannot initialise. */
TIDE_WUR int tide_init(void);

/* A static, human-readable description of an error code; never NULL,
 * also for unknown codes. */
const char *tide_strerror(int code);

/* Fills *err (when non-NULL) with code, offset and a printf-style message,
 * and returns code so callers can write `return tide_error_set(...)`. */
int tide_error_set(tide_error *err, int code, size_t offset, const char *fmt, ...)
    TIDE_PRINTF(4, 5);

/* Clears *err (when non-NULL): no code, no offset, an empty message. */
void tide_error_clear(tide_error *err);

/* The text to show a user: err->msg when set, else tide_strerror(code). */
const char *tide_error_text(const tide_error *err, int code);

#endif
