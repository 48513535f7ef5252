/* msg_int.h - internals of msg.c shared with its tests. */
#ifndef TIDE_MSG_INT_H
#define TIDE_MSG_INT_H

#include <stddef.h>

#include "tide/json.h"

/* Length of JSON.stringify(v, null, 2) in UTF-16 units and UTF-8 bytes,
 * computed without writing it (tide_msg_parse() uses it to decide whether
 * a text is too long to keep).  0 or TIDE_E_NOMEM. */
int tide__msg_pretty_len(const tide_json *v, size_t *units, size_t *bytes);

#endif
