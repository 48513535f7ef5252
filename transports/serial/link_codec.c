/* link_codec.c - link frame codec (COBS, CRC-32C, frame layout), link
 * profiles and the serial transport's error strings.  See docs/radio.md. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"
#include "tide/link.h"

const char *tide_link_strerror(int code)
{
  switch (code) {
  case TIDE_E_SERIAL_NOPORT: return "no such serial port";
  case TIDE_E_SERIAL_BUSY: return "serial port busy (used by another program)";
  case TIDE_E_SERIAL_GONE: return "serial port disappeared (unplugged?)";
  case TIDE_E_SERIAL_CONFIG: return "serial port refused the settings";
  case TIDE_E_LINK_FRAME: return "malformed or corrupted link frame";
  case TIDE_E_LINK_PEER_RESET: return "the peer restarted the link";
  case TIDE_E_LINK_DEAD: return "no answer from the peer";
  case TIDE_E_LINK_PROFILE: return "invalid link profile";
  default: return tide_strerror(code);
  }
}

/* ---- CRC-32C, bytewise table computed on the fly (no global state) ---- */

uint32_t tide_link_crc32c(const uint8_t *p, size_t n)
{
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

/* ---- COBS ---- */

int tide_link_cobs_encode(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *in, size_t n)
{
  size_t o = 1, code_at = 0;
  uint8_t code = 1;

  *out_len = 0;
  if (cap < n + n / 254 + 1)
    return TIDE_E_BUFSIZE;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == 0) {
      out[code_at] = code;
      code_at = o++;
      code = 1;
      continue;
    }
    out[o++] = in[i];
    if (++code == 0xff) {
      out[code_at] = code;
      code_at = o++;
      code = 1;
    }
  }
  out[code_at] = code;
  *out_len = o;
  return 0;
}

int tide_link_frame_encode(uint8_t *out, size_t cap, size_t *out_len, uint8_t *body, size_t n)
{
  uint32_t crc = tide_link_crc32c(body, n);
  size_t m;
  int rc;
  body[n++] = (uint8_t)crc;
  body[n++] = (uint8_t)(crc >> 8);
  body[n++] = (uint8_t)(crc >> 16);
  body[n++] = (uint8_t)(crc >> 24);
  if (cap < 1)
    return TIDE_E_BUFSIZE;
  rc = tide_link_cobs_encode(out, cap - 1, &m, body, n);
  if (rc != 0)
    return rc;
  out[m++] = 0;
  *out_len = m;
  return 0;
}

int tide_link_cobs_decode(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *in, size_t n)
{
  size_t i = 0, o = 0;

  *out_len = 0;
  while (i < n) {
    uint8_t code = in[i++];
    if (code == 0)
      return TIDE_E_LINK_FRAME;
    if ((size_t)(code - 1) > n - i)
      return TIDE_E_LINK_FRAME;
    if (o + (size_t)(code - 1) > cap)
      return TIDE_E_BUFSIZE;
    for (uint8_t k = 1; k < code; k++) {
      if (in[i] == 0)
        return TIDE_E_LINK_FRAME;
      out[o++] = in[i++];
    }
    if (code != 0xff && i < n) {
      if (o >= cap)
        return TIDE_E_BUFSIZE;
      out[o++] = 0;
    }
  }
  *out_len = o;
  return 0;
}

/* ---- frame layout ---- */

int tide_link_frame_parse(tide_link_frame *f, const uint8_t *body, size_t n, tide_error *err)
{
  uint32_t crc;
  size_t m;

  memset(f, 0, sizeof *f);
  if (n < 1 + TIDE_LINK_CRC_BYTES)
    return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "link frame too short (%zu bytes)", n);
  if (n > TIDE_LINK_MAX_BODY_BYTES)
    return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "link frame too long (%zu bytes)", n);
  m = n - TIDE_LINK_CRC_BYTES;
  crc = (uint32_t)body[m] | (uint32_t)body[m + 1] << 8 | (uint32_t)body[m + 2] << 16 |
        (uint32_t)body[m + 3] << 24;
  if (crc != tide_link_crc32c(body, m))
    return tide_error_set(err, TIDE_E_LINK_FRAME, m, "link frame CRC mismatch");
  if (body[0] & ~TIDE_LINK_F_MASK)
    return tide_error_set(err, TIDE_E_LINK_FRAME, 0,
                          "link frame version/reserved bits set (0x%02x)", body[0]);
  f->type = body[0] & 3u;
  f->flags = body[0] & (TIDE_LINK_F_TURN | TIDE_LINK_F_IDLE);
  switch (f->type) {
  case TIDE_LINK_T_DATA:
    if (m < TIDE_LINK_DATA_HDR_BYTES + 1)
      return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "DATA frame without payload");
    f->seq = body[1];
    f->ack = body[2];
    f->data = body + 3;
    f->len = m - 3;
    return 0;
  case TIDE_LINK_T_ACK:
    if (m < 2 || m > 2 + TIDE_LINK_MAX_SACK_BYTES)
      return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "ACK frame of %zu bytes", m);
    f->ack = body[1];
    f->data = body + 2;
    f->len = m - 2;
    return 0;
  case TIDE_LINK_T_SYN:
    if (m != 11)
      return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "SYN frame of %zu bytes", m);
    if (body[9] == 0 || body[9] > TIDE_LINK_MAX_WINDOW || (body[10] & ~1u))
      return tide_error_set(err, TIDE_E_LINK_FRAME, 9, "SYN frame with bad window or flags");
    f->data = body + 1;
    f->len = 10;
    return 0;
  default: /* TIDE_LINK_T_EXT */
    if (m < 2)
      return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "EXT frame without a kind");
    f->kind = body[1];
    if (f->kind != TIDE_LINK_EXT_PAUSE)
      return tide_error_set(err, TIDE_E_LINK_FRAME, 1, "unknown link extension kind %u",
                            (unsigned)f->kind);
    if (m != TIDE_LINK_PAUSE_BYTES)
      return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "PAUSE frame of %zu bytes", m);
    f->pause_ms = (uint32_t)body[2] | (uint32_t)body[3] << 8 | (uint32_t)body[4] << 16 |
                  (uint32_t)body[5] << 24;
    f->data = body + 2;
    f->len = 4;
    return 0;
  }
}

/* ---- profiles ---- */

static const char *const profile_names[] = {"cable", "rfd900", "lora-e22", "lora-e32", NULL};

const char *const *tide_link_profile_names(void)
{
  return profile_names;
}

static void profile_fill(tide_link_profile *p, const char *name, uint32_t baud, uint16_t packet,
                         int half, uint32_t duty_ppm, uint32_t latency, uint32_t rto_min,
                         uint32_t rto_max, uint32_t dead, uint16_t window)
{
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->baud = baud;
  p->packet_bytes = packet;
  p->half_duplex = (uint8_t)half;
  p->rtscts = 0;
  p->duty_ppm = duty_ppm;
  p->duty_window_ms = 3600000u;
  p->latency_ms = latency;
  p->rto_min_ms = rto_min;
  p->rto_max_ms = rto_max;
  p->dead_ms = dead;
  p->window_max = window;
}

int tide_link_profile_get(tide_link_profile *p, const char *name)
{
  if (name == NULL)
    return TIDE_E_LINK_PROFILE;
  /* A plain cable or USB-serial adapter: full duplex, no airtime rules. */
  if (strcmp(name, "cable") == 0)
    profile_fill(p, name, 115200, 512, 0, 1000000, 5, 50, 2000, 60000, 64);
  /* RFD900 / SiK: TDM hides the half-duplex radio, 252-byte packets, serial
   * 57600 against 64 kbit/s on air; the TDM slots add tens of ms. */
  else if (strcmp(name, "rfd900") == 0)
    profile_fill(p, name, 57600, 252, 0, 1000000, 50, 200, 5000, 60000, 64);
  /* Ebyte E22 in transparent mode: 240-byte sub-packets, half duplex, air
   * rate set to match the 9600-baud UART, EU 869.4-869.65 MHz: 10 %/h. */
  else if (strcmp(name, "lora-e22") == 0)
    profile_fill(p, name, 9600, 240, 1, 100000, 100, 500, 15000, 120000, 32);
  /* Ebyte E32: 58-byte air packets, UART and air at 2400 bit/s, 10 %/h. */
  else if (strcmp(name, "lora-e32") == 0)
    profile_fill(p, name, 2400, 58, 1, 100000, 200, 1000, 30000, 180000, 32);
  else
    return TIDE_E_LINK_PROFILE;
  return 0;
}

/* ---- airtime (shared with link.c through link_int.h) ---- */

uint64_t tide__link_wire_us(const tide_link_profile *p, size_t body_wo_crc)
{
  size_t b = body_wo_crc + TIDE_LINK_CRC_BYTES;
  return tide_link_line_us(p, b + b / 254 + 2);
}

uint64_t tide__link_ann_us(const tide_link_profile *p)
{
  return tide__link_wire_us(p, 2 + TIDE_LINK_MAX_SACK_BYTES) +
         tide__link_wire_us(p, TIDE_LINK_PAUSE_BYTES);
}

uint64_t tide__link_reserve_us(const tide_link_profile *p)
{
  return (1u + TIDE_LINK_PAUSE_REPEATS) * tide__link_ann_us(p);
}

uint64_t tide__link_duty_need_us(const tide_link_profile *p)
{
  return tide__link_wire_us(p, TIDE_LINK_DATA_HDR_BYTES + tide_link_payload_max(p)) +
         tide__link_reserve_us(p);
}

uint64_t tide_link_duty_min_ppm(const tide_link_profile *p)
{
  uint64_t need_us = tide__link_duty_need_us(p);
  if (p->duty_window_ms == 0)
    return UINT64_MAX;
  /* budget_us = ppm * window_ms / 1000 >= need_us */
  return (need_us * 1000u + p->duty_window_ms - 1) / p->duty_window_ms;
}

/* Writes ppm as a percentage with no more digits than it needs
 * ("10", "0.0091"): the unit and resolution of the `duty` setting. */
static void format_percent(char *out, size_t cap, uint64_t ppm)
{
  char frac[8];
  int n = snprintf(frac, sizeof frac, "%04u", (unsigned)(ppm % 10000u));
  while (n > 0 && frac[n - 1] == '0')
    frac[--n] = '\0';
  if (n > 0)
    snprintf(out, cap, "%llu.%s", (unsigned long long)(ppm / 10000u), frac);
  else
    snprintf(out, cap, "%llu", (unsigned long long)(ppm / 10000u));
}

/* The duty budget (duty x duty-window) must hold one full DATA frame plus
 * the reserve every DATA/ACK frame keeps for the pause announcements
 * (docs/radio.md section 6); with less the sender would wait for ever.
 * duty 100 % sets no budget at all. */
static int duty_check(const tide_link_profile *p, tide_error *err)
{
  uint64_t need_us, budget_us, min_ppm;
  size_t frame = TIDE_LINK_DATA_HDR_BYTES + tide_link_payload_max(p) + TIDE_LINK_CRC_BYTES;
  char have[32], want[32] = "100", win[32];

  if (p->duty_ppm >= 1000000u)
    return 0;
  need_us = tide__link_duty_need_us(p);
  budget_us = (uint64_t)p->duty_ppm * p->duty_window_ms / 1000u;
  if (budget_us >= need_us)
    return 0;
  min_ppm = tide_link_duty_min_ppm(p);
  frame += frame / 254 + 2; /* COBS and the delimiter: the bytes on the line */
  format_percent(have, sizeof have, p->duty_ppm);
  if (p->duty_window_ms % 1000u == 0)
    snprintf(win, sizeof win, "%u s", (unsigned)(p->duty_window_ms / 1000u));
  else
    snprintf(win, sizeof win, "%u ms", (unsigned)p->duty_window_ms);
  if (min_ppm < 1000000u)
    format_percent(want, sizeof want, min_ppm);
  /* Tenths of a millisecond, the budget rounded down and the need up, so
   * the message never shows them equal. */
  budget_us /= 100u;
  need_us = (need_us + 99u) / 100u;
  if (min_ppm >= 1000000u) /* not even the whole window holds a frame */
    return tide_error_set(
        err, TIDE_E_LINK_PROFILE, 0,
        "duty %s %% of a %s window gives %llu.%u ms of airtime per window, less than one "
        "%zu-byte frame plus the pause reserve (%llu.%u ms) at %u baud: use duty=100 (no limit), "
        "a longer duty-window or a faster line",
        have, win, (unsigned long long)(budget_us / 10u), (unsigned)(budget_us % 10u), frame,
        (unsigned long long)(need_us / 10u), (unsigned)(need_us % 10u), (unsigned)p->baud);
  return tide_error_set(err, TIDE_E_LINK_PROFILE, 0,
                        "duty %s %% of a %s window gives %llu.%u ms of airtime per window, less "
                        "than one %zu-byte frame plus the pause reserve (%llu.%u ms) at %u baud: "
                        "use duty >= %s",
                        have, win, (unsigned long long)(budget_us / 10u),
                        (unsigned)(budget_us % 10u), frame, (unsigned long long)(need_us / 10u),
                        (unsigned)(need_us % 10u), (unsigned)p->baud, want);
}

int tide_link_profile_check(const tide_link_profile *p, tide_error *err)
{
  if (p->baud < 300 || p->baud > 4000000)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "baud %u out of range 300..4000000",
                          (unsigned)p->baud);
  if (p->packet_bytes < 24 || p->packet_bytes > TIDE_LINK_MAX_BODY_BYTES)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "packet size %u out of range 24..%d",
                          (unsigned)p->packet_bytes, TIDE_LINK_MAX_BODY_BYTES);
  if (p->duty_ppm < 1 || p->duty_ppm > 1000000)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "duty cycle out of range (0..100 %%]");
  if (p->duty_window_ms < 1000 || p->duty_window_ms > 86400000u)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "duty window %u ms out of range 1 s..24 h",
                          (unsigned)p->duty_window_ms);
  if (p->latency_ms > 60000)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "latency %u ms above 60 s",
                          (unsigned)p->latency_ms);
  if (p->rto_min_ms < 1 || p->rto_min_ms > p->rto_max_ms || p->rto_max_ms > 600000)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0,
                          "need 1 <= rto-min <= rto-max <= 600000 ms (have %u, %u)",
                          (unsigned)p->rto_min_ms, (unsigned)p->rto_max_ms);
  if (p->dead_ms < 1000 || p->dead_ms > 86400000u)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "dead time %u ms out of range 1 s..24 h",
                          (unsigned)p->dead_ms);
  if (p->window_max < 1 || p->window_max > TIDE_LINK_MAX_WINDOW)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "window %u out of range 1..%d",
                          (unsigned)p->window_max, TIDE_LINK_MAX_WINDOW);
  /* An ACK with a full bitmap and a SYN must fit one packet. */
  if (p->packet_bytes < 2 + TIDE_LINK_MAX_SACK_BYTES + TIDE_LINK_CRC_BYTES + 2)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "packet size too small for an ACK");
  return duty_check(p, err);
}

static int parse_u32(uint32_t *out, const char *s, uint32_t lo, uint32_t hi)
{
  char *end;
  unsigned long v;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Parses a percentage such as "10", "0.1" or "100" into parts per million. */
static int parse_percent_ppm(uint32_t *out, const char *s)
{
  uint64_t whole = 0, frac = 0, scale = 1;
  const char *c = s;

  if (s == NULL || *s == '\0')
    return -1;
  while (*c >= '0' && *c <= '9') {
    whole = whole * 10 + (uint64_t)(*c - '0');
    if (whole > 100)
      return -1;
    c++;
  }
  if (*c == '.') {
    c++;
    while (*c >= '0' && *c <= '9') {
      if (scale < 10000) {
        frac = frac * 10 + (uint64_t)(*c - '0');
        scale *= 10;
      }
      c++;
    }
  }
  if (*c == '%')
    c++;
  if (*c != '\0' || c == s)
    return -1;
  /* 1 % = 10000 ppm */
  whole = whole * 10000 + frac * 10000 / scale;
  if (whole < 1 || whole > 1000000)
    return -1;
  *out = (uint32_t)whole;
  return 0;
}

int tide_link_profile_set(tide_link_profile *p, const char *key, const char *value, tide_error *err)
{
  uint32_t v;

  if (key == NULL || value == NULL)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "missing profile key or value");
  if (strcmp(key, "baud") == 0) {
    if (parse_u32(&v, value, 300, 4000000) != 0)
      goto bad;
    p->baud = v;
  } else if (strcmp(key, "packet") == 0) {
    if (parse_u32(&v, value, 24, TIDE_LINK_MAX_BODY_BYTES) != 0)
      goto bad;
    p->packet_bytes = (uint16_t)v;
  } else if (strcmp(key, "duplex") == 0) {
    if (strcmp(value, "half") == 0)
      p->half_duplex = 1;
    else if (strcmp(value, "full") == 0)
      p->half_duplex = 0;
    else
      goto bad;
  } else if (strcmp(key, "rtscts") == 0) {
    if (strcmp(value, "on") == 0)
      p->rtscts = 1;
    else if (strcmp(value, "off") == 0)
      p->rtscts = 0;
    else
      goto bad;
  } else if (strcmp(key, "duty") == 0) {
    if (parse_percent_ppm(&v, value) != 0)
      goto bad;
    p->duty_ppm = v;
  } else if (strcmp(key, "duty-window") == 0) {
    if (parse_u32(&v, value, 1000, 86400000u) != 0)
      goto bad;
    p->duty_window_ms = v;
  } else if (strcmp(key, "latency") == 0) {
    if (parse_u32(&v, value, 0, 60000) != 0)
      goto bad;
    p->latency_ms = v;
  } else if (strcmp(key, "rto-min") == 0) {
    if (parse_u32(&v, value, 1, 600000) != 0)
      goto bad;
    p->rto_min_ms = v;
  } else if (strcmp(key, "rto-max") == 0) {
    if (parse_u32(&v, value, 1, 600000) != 0)
      goto bad;
    p->rto_max_ms = v;
  } else if (strcmp(key, "dead") == 0) {
    if (parse_u32(&v, value, 1000, 86400000u) != 0)
      goto bad;
    p->dead_ms = v;
  } else if (strcmp(key, "window") == 0) {
    if (parse_u32(&v, value, 1, TIDE_LINK_MAX_WINDOW) != 0)
      goto bad;
    p->window_max = (uint16_t)v;
  } else {
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "unknown profile setting '%s'", key);
  }
  return 0;
bad:
  return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "bad value '%s' for profile setting '%s'",
                        value, key);
}

uint64_t tide_link_line_us(const tide_link_profile *p, size_t n)
{
  /* 8N1: start bit, 8 data bits, stop bit. Round up. */
  return ((uint64_t)n * 10u * 1000000u + p->baud - 1) / p->baud;
}

size_t tide_link_payload_max(const tide_link_profile *p)
{
  size_t body = p->packet_bytes;
  /* wire = body + ceil-ish COBS overhead (body/254 + 1) + delimiter */
  while (body > 0 && body + body / 254 + 2 > p->packet_bytes)
    body--;
  if (body > TIDE_LINK_MAX_BODY_BYTES)
    body = TIDE_LINK_MAX_BODY_BYTES;
  if (body < TIDE_LINK_DATA_HDR_BYTES + TIDE_LINK_CRC_BYTES + 1)
    return 0;
  return body - TIDE_LINK_DATA_HDR_BYTES - TIDE_LINK_CRC_BYTES;
}
