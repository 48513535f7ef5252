/* common.c - error strings, error details and library initialisation. */
#include "tide/common.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tide_init(void)
{
  return sodium_init() < 0 ? TIDE_E_INTERNAL : 0;
}

const char *tide_strerror(int code)
{
  switch (code) {
  case TIDE_OK: return "success";
  case TIDE_E_NOMEM: return "out of memory";
  case TIDE_E_INVAL: return "invalid argument";
  case TIDE_E_IO: return "input/output error";
  case TIDE_E_TOOBIG: return "too large";
  case TIDE_E_NOTFOUND: return "not found";
  case TIDE_E_EXISTS: return "already exists";
  case TIDE_E_PERM: return "permission denied";
  case TIDE_E_INTERNAL: return "internal error";
  case TIDE_E_BUFSIZE: return "buffer too small";
  case TIDE_E_AGAIN: return "try again";
  case TIDE_E_CLOSED: return "closed";
  case TIDE_E_TIMEOUT: return "timed out";
  case TIDE_E_JSON_SYNTAX: return "invalid JSON";
  case TIDE_E_JSON_DEPTH: return "JSON nested too deeply";
  case TIDE_E_JSON_UTF8: return "invalid UTF-8";
  case TIDE_E_KEY_FORMAT: return "malformed key or id";
  case TIDE_E_KEY_CURVE: return "unsupported key type";
  case TIDE_E_MSG_INVALID: return "invalid message";
  case TIDE_E_MSG_SIGNATURE: return "invalid signature";
  case TIDE_E_STORE: return "store error";
  case TIDE_E_STORE_GAP: return "sequence gap";
  case TIDE_E_STORE_FORK: return "feed fork";
  case TIDE_E_STORE_FORKED: return "feed is forked";
  case TIDE_E_STORE_CORRUPT: return "store is corrupt";
  case TIDE_E_STORE_SCHEMA: return "store schema version unknown";
  default: break;
  }
  if (code <= -500 && code > -600)
    return "replication engine error";
  if (code <= -600 && code > -700)
    return "frame error";
  if (code <= -700 && code > -800)
    return "bundle error";
  if (code <= -800 && code > -900)
    return "serial link error";
  if (code <= -900 && code > -1000)
    return "tcp transport error";
  return "unknown error";
}

int tide_error_set(tide_error *err, int code, size_t offset, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return code;
  err->code = code;
  err->offset = offset;
  if (fmt == NULL) {
    err->msg[0] = '\0';
    return code;
  }
  va_start(ap, fmt);
  (void)vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

void tide_error_clear(tide_error *err)
{
  /* Fields and an empty message; the rest of the message buffer is left
   * alone (this runs once or twice per message on the ingest path). */
  if (err != NULL) {
    err->code = 0;
    err->fatal = 0;
    err->offset = 0;
    err->msg[0] = '\0';
  }
}

const char *tide_error_text(const tide_error *err, int code)
{
  if (err != NULL && err->msg[0] != '\0')
    return err->msg;
  return tide_strerror(code);
}
