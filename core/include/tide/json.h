/* tide/json.h - order-preserving JSON with V8-exact serialisation.
 *
 * SSB signs and hashes the text that V8's JSON.stringify(value, null, 2)
 * prints for a parsed message, so this module reproduces V8 exactly:
 *   - objects enumerate like V8 (array-index keys "0".."4294967294" in
 *     canonical decimal first, ascending; then other keys in insertion
 *     order); a duplicate key keeps its first position and its last value;
 *   - numbers are IEEE doubles printed with ECMAScript Number::toString
 *     (shortest round trip, exponent from 1e21 and below 1e-6, -0 as 0,
 *     non-finite as null);
 *   - strings escape '"', '\\', \b \f \n \r \t, other C0 controls as
 *     lowercase \u00xx, lone surrogates as lowercase \udxxx; everything
 *     else (including '/', U+007F, U+2028/9, non-ASCII) is emitted raw.
 *
 * Strings are held as WTF-8: UTF-8 that may also contain lone surrogate
 * code points (3-byte sequences ED A0..BF xx), because a JSON text can
 * produce them with \ud800-style escapes.  String pointers are
 * NUL-terminated but may contain NUL bytes; always use the length.
 *
 * Memory: a tide_json_doc owns every node and string made in it (arena);
 * node pointers stay valid until tide_json_doc_free().  A document is not
 * thread-safe for writing; concurrent readers of a finished document are
 * fine.  There is no global state; docs/json.md states the rules in full. */
#ifndef TIDE_JSON_H
#define TIDE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"

typedef enum tide_json_type {
  TIDE_JSON_NULL,
  TIDE_JSON_FALSE,
  TIDE_JSON_TRUE,
  TIDE_JSON_NUMBER,
  TIDE_JSON_STRING,
  TIDE_JSON_ARRAY,
  TIDE_JSON_OBJECT
} tide_json_type;

typedef struct tide_json_doc tide_json_doc;
typedef struct tide_json tide_json;

/* Limits for untrusted input.  Zero fields take the defaults. */
typedef struct tide_json_limits {
  size_t max_depth; /* nesting of arrays/objects; default 512 */
  size_t max_bytes; /* input size; default 64 MiB */
} tide_json_limits;

#define TIDE_JSON_DEFAULT_DEPTH 512
#define TIDE_JSON_DEFAULT_BYTES ((size_t)64 << 20)

/* Longest text tide_json_format_number() writes, with the NUL. */
#define TIDE_JSON_NUMBER_BYTES 32

/* Serialisation styles. */
#define TIDE_JSON_COMPACT 0 /* JSON.stringify(v) */
#define TIDE_JSON_PRETTY  2 /* JSON.stringify(v, null, 2) */

/* Parses one JSON text (RFC 8259, as JSON.parse accepts it: leading and
 * trailing whitespace of space, \t, \n, \r only) into a new document.
 * Numbers are rounded correctly to doubles (beyond the range: +-Infinity,
 * like JSON.parse).  On success *out owns the document (free with
 * tide_json_doc_free()); on failure *out is NULL.  The text is borrowed
 * for the call only.
 * Errors: TIDE_E_JSON_SYNTAX (err->offset is the byte where parsing
 * stopped, err->msg says what was expected, e.g. "expected ',' or '}' at
 * byte 17"), TIDE_E_JSON_DEPTH, TIDE_E_JSON_UTF8 (raw bytes not UTF-8,
 * including encoded surrogates), TIDE_E_TOOBIG (len > max_bytes),
 * TIDE_E_NOMEM, TIDE_E_INVAL (NULL out, or NULL text with len > 0).
 * `lim` may be NULL for the defaults; `err` may be NULL.  Nesting is
 * handled without recursion, so any max_depth is safe for the stack. */
TIDE_WUR int tide_json_parse(tide_json_doc **out, const char *text, size_t len,
                             const tide_json_limits *lim, tide_error *err);

/* Parses like tide_json_parse() and, in the same pass, finds out how the
 * text compares with JSON.stringify(root, null, indent) as
 * tide_json_write(root, indent) prints it (the "canonical" text):
 *   - *canonical (when not NULL) is set to 1 when the text is the
 *     canonical text byte for byte, else to 0 (also on error);
 *   - canon_text (when not NULL) gets the canonical text appended.  When
 *     the text differs from it only in whitespace (strings escaped and
 *     numbers spelt as the writer does, object members in V8 order
 *     without duplicates: e.g. any message printed by JSON.stringify with
 *     another indent), the tokens are copied and laid out again instead
 *     of being printed from the values, which is several times cheaper;
 *     otherwise the value is printed with tide_json_write().
 * SSB signs and hashes the indent-2 text of messages that travel compact
 * or indented, so this is how a message's canonical text is made.
 * indent is 0..10 (TIDE_JSON_COMPACT, TIDE_JSON_PRETTY ...).  Ownership
 * and errors as tide_json_parse(), plus TIDE_E_INVAL for a bad indent;
 * on error *out is NULL and nothing is appended. */
TIDE_WUR int tide_json_parse_canonical(tide_json_doc **out, tide_buf *canon_text, int *canonical,
                                       const char *text, size_t len, int indent,
                                       const tide_json_limits *lim, tide_error *err);

/* An empty document for building values; NULL when out of memory. */
tide_json_doc *tide_json_doc_new(void);

/* Frees a document and every node in it; NULL is a no-op. */
void tide_json_doc_free(tide_json_doc *doc);

/* The parsed root (NULL for a document made by tide_json_doc_new()). */
tide_json *tide_json_root(const tide_json_doc *doc);

/* --- Reading ------------------------------------------------------------ */

/* The value's type; TIDE_JSON_NULL also for a NULL pointer, so a missing
 * member reads as null (check the pointer to tell them apart).  All the
 * readers below accept NULL and wrong types and then return 0/NULL. */
tide_json_type tide_json_typeof(const tide_json *v);

/* The number's value; 0 for a non-number. */
double tide_json_number(const tide_json *v);

/* The string's WTF-8 bytes (NUL-terminated, owned by the document) and
 * length (len may be NULL); NULL and *len = 0 for a non-string. */
const char *tide_json_string(const tide_json *v, size_t *len);

/* Number of array items or object members; 0 for scalars. */
size_t tide_json_length(const tide_json *v);

/* Array item i, or NULL when out of range or not an array. */
tide_json *tide_json_array_get(const tide_json *v, size_t i);

/* Object member i in V8 enumeration order (index keys first): its key
 * (WTF-8, *len set) and value.  NULL when out of range or not an object. */
const char *tide_json_object_key(const tide_json *v, size_t i, size_t *len);
tide_json *tide_json_object_value(const tide_json *v, size_t i);

/* The value stored under key (exact bytes), or NULL. */
tide_json *tide_json_object_get(const tide_json *v, const char *key, size_t keylen);

/* Same with a NUL-terminated key. */
tide_json *tide_json_object_getz(const tide_json *v, const char *key);

/* --- Building (nodes belong to doc; NULL when out of memory) ----------- */

tide_json *tide_json_new_null(tide_json_doc *doc);
tide_json *tide_json_new_bool(tide_json_doc *doc, int value);
tide_json *tide_json_new_number(tide_json_doc *doc, double value);
/* Copies len bytes of WTF-8; NULL also when s is not valid WTF-8 (see
 * tide_json_valid_wtf8()). */
tide_json *tide_json_new_string(tide_json_doc *doc, const char *s, size_t len);
tide_json *tide_json_new_array(tide_json_doc *doc);
tide_json *tide_json_new_object(tide_json_doc *doc);

/* Appends item (a node of the same doc, not containing arr) to an array.
 * TIDE_E_INVAL when arr is not an array, TIDE_E_NOMEM. */
TIDE_WUR int tide_json_array_push(tide_json_doc *doc, tide_json *arr, tide_json *item);

/* Sets obj[key] = value with JavaScript semantics: an existing key keeps
 * its position and takes the new value; a new array-index key goes to its
 * sorted place among the index keys, any other new key to the end.  The
 * key (WTF-8) is copied; value must be a node of doc and must not contain
 * obj (no cycles).  Objects with many keys get a hash table, so building
 * big objects stays linear.  TIDE_E_INVAL when obj is not an object or
 * the key is not WTF-8, TIDE_E_NOMEM. */
TIDE_WUR int tide_json_object_set(tide_json_doc *doc, tide_json *obj, const char *key,
                                  size_t keylen, tide_json *value);

/* Removes obj[key] if present (later members keep their order). */
void tide_json_object_remove(tide_json *obj, const char *key, size_t keylen);

/* Deep-copies v (from any document) into doc; NULL when out of memory
 * (or for a value made cyclic with the builder).  Iterative. */
tide_json *tide_json_clone(tide_json_doc *doc, const tide_json *v);

/* --- Writing ------------------------------------------------------------ */

/* Appends JSON.stringify(v) (indent TIDE_JSON_COMPACT) or
 * JSON.stringify(v, null, indent) as V8 prints it, UTF-8 encoded, to out.
 * indent is 0..10 spaces.  On error nothing is appended.  TIDE_E_NOMEM,
 * TIDE_E_INVAL (NULL argument or bad indent), TIDE_E_JSON_DEPTH (nesting
 * beyond 2^20 levels: only a value made cyclic with the builder gets
 * there).  The writer is iterative: deep values do not use the C stack. */
TIDE_WUR int tide_json_write(tide_buf *out, const tide_json *v, int indent);

/* Appends a JSON string literal for the WTF-8 text s (quotes included),
 * escaped as V8 does.  TIDE_E_NOMEM, TIDE_E_JSON_UTF8 (s is not valid
 * WTF-8; nothing appended). */
TIDE_WUR int tide_json_write_string(tide_buf *out, const char *s, size_t len);

/* Writes ECMAScript Number::toString(d) into out (NUL-terminated) and
 * returns its length (at most TIDE_JSON_NUMBER_BYTES - 1).  Non-finite
 * values print "NaN", "Infinity", "-Infinity" (JSON writers turn those
 * into null). */
size_t tide_json_format_number(char out[TIDE_JSON_NUMBER_BYTES], double d);

/* --- JavaScript string measures ----------------------------------------- */

/* Number of UTF-16 code units of a WTF-8 string (JS `.length`); s must
 * be valid WTF-8 (the count is meaningless otherwise). */
size_t tide_json_utf16_length(const char *s, size_t len);

/* Appends Buffer.from(s, "binary") of the WTF-8 string s: one byte per
 * UTF-16 code unit, its low 8 bits (the SSB message-id quirk); an astral
 * character gives the low bytes of its surrogate pair (U+1F600 -> 3d 00).
 * TIDE_E_NOMEM, TIDE_E_JSON_UTF8 (s is not WTF-8; nothing appended). */
TIDE_WUR int tide_json_latin1(tide_buf *out, const char *s, size_t len);

/* 1 when s[0..len) is valid WTF-8 (UTF-8 plus lone surrogates, but no
 * high surrogate directly followed by a low one: a pair must be written
 * as its four-byte code point), else 0. */
int tide_json_valid_wtf8(const char *s, size_t len);

#endif
