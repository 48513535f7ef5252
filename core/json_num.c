/* json_num.c - numbers: JSON number tokens to doubles (correctly rounded,
 * as JSON.parse) and doubles to text (ECMAScript Number::toString, as
 * JSON.stringify prints them).
 *
 * Parsing takes Clinger's exact fast path when the significant digits fit
 * in 2^53 and the power of ten is exact, else hands a bounded normalised
 * copy of the digits to strtod (glibc: correctly rounded; tide never calls
 * setlocale, so the decimal point is '.').
 *
 * Printing: integers below 2^53 take a direct path.  Other values need the
 * shortest digit string that reads back as the same double (ECMA-262,
 * Number::toString step 5) and, when several strings of that length do,
 * the one closest to the value (the note to that step, which V8 follows).
 * The search tries p = 15, 16, 17 significant digits for normal numbers:
 * a normal double's rounding interval is narrower than half a unit of the
 * 15th digit, so if any string of 15 or fewer digits reads back, the
 * closest 15-digit one is that string padded with zeros (strip them).  At
 * 16 digits the interval can hold two candidates; the closest one is
 * tried first and, when it lies just outside a lopsided interval (powers
 * of two, whose lower gap is half the upper), its neighbour on the other
 * side.  17 digits always read back.  Subnormals, whose intervals are
 * wide, try every precision from 1.
 *
 * "The closest p-digit decimal, and does it read back" is answered by, in
 * order of preference:
 *   - fast15(): floating point, exact by Clinger's argument, for 15
 *     digits in [1e-8, 1e37);
 *   - try_digits_exact(): 128-bit integer arithmetic, for normal doubles
 *     in [2^-17, 2^127);
 *   - try_digits_printf(): glibc's "%.*e" (exactly rounded) and strtod.
 * tests/unit/test_json.c checks the result against a spec-literal search
 * over random doubles, and json.diff_node against V8. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "tide/json.h"

/* Digits beyond this many are summarised by a sticky '1': a double's
 * rounding midpoints have at most 767 significant digits. */
#define MAX_SIG_DIGITS 800

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

double tide__json_parse_number(const char *s, size_t len)
{
  char buf[MAX_SIG_DIGITS + 32];
  const char *p = s, *end = s + len;
  int neg = 0, sticky = 0;
  size_t nd = 0;
  int64_t e10 = 0, ex = 0;
  uint64_t mant = 0;
  double v;

  if (p < end && *p == '-') {
    neg = 1;
    p++;
  }
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (nd == 0 && *p == '0')
      continue;
    if (nd < MAX_SIG_DIGITS) {
      buf[nd++] = *p;
    } else {
      sticky |= *p != '0';
      e10++;
    }
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
      if (nd == 0 && *p == '0') {
        e10--;
      } else if (nd < MAX_SIG_DIGITS) {
        buf[nd++] = *p;
        e10--;
      } else {
        sticky |= *p != '0';
      }
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    int eneg = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      eneg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (ex < 1000000000)
        ex = ex * 10 + (*p - '0');
    e10 += eneg ? -ex : ex;
  }
  if (nd == 0)
    return neg ? -0.0 : 0.0;

  /* Clinger's fast path: both operands exact, one correctly rounded op. */
  if (nd <= 15 && e10 >= -22 && e10 <= 22) {
    for (size_t i = 0; i < nd; i++)
      mant = mant * 10 + (uint64_t)(buf[i] - '0');
    v = (double)mant;
    v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
    return neg ? -v : v;
  }
  /* The value is below 10^(nd + e10): beyond these bounds it is surely 0
   * or surely Infinity (JSON.parse("1e400") is Infinity). */
  if ((int64_t)nd + e10 > 400)
    return neg ? -HUGE_VAL : HUGE_VAL;
  if ((int64_t)nd + e10 < -400)
    return neg ? -0.0 : 0.0;
  if (sticky) {
    buf[nd++] = '1';
    e10--;
  }
  snprintf(buf + nd, sizeof buf - nd, "e%d", (int)e10);
  v = strtod(buf, NULL);
  return neg ? -v : v;
}

/* The closest decimal of p significant digits to v > 0, as digits and
 * the exponent of its first digit (v ~ d.ddd x 10^e).  Returns 1 when it
 * reads back as v.  `up` retries with the next p-digit decimal above when
 * the closest one is below v and does not read back. */
static int try_digits_printf(double v, int p, char digits[24], int *e, int up)
{
  char buf[40];
  int k = 0, ok;
  double r;
  const char *q;

  snprintf(buf, sizeof buf, "%.*e", p - 1, v);
  for (q = buf; *q != 'e'; q++)
    if (*q != '.')
      digits[k++] = *q;
  *e = atoi(q + 1);
  r = strtod(buf, NULL);
  ok = r == v;
  if (ok || !up || r > v)
    return ok;
  /* Next decimal up: add one unit in the last place. */
  {
    char alt[48];
    int i = k - 1;
    while (i >= 0 && digits[i] == '9')
      digits[i--] = '0';
    if (i < 0) {
      digits[0] = '1'; /* 99..9 -> 100..0 */
      ++*e;
    } else {
      digits[i]++;
    }
    snprintf(alt, sizeof alt, "%.*se%d", k, digits, *e - (k - 1));
    return strtod(alt, NULL) == v;
  }
}

#if defined(__SIZEOF_INT128__)
#define HAVE_EXACT 1
__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};

/* 10^k for 0 <= k <= 38. */
static u128 pow10_128(int k)
{
  return k < 20 ? (u128)pow10_u64[k] : (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* x / d rounded to nearest, ties to even. */
static u128 div_round(u128 x, u128 d)
{
  u128 q = x / d, r = x - q * d;
  if (r > d - r || (r == d - r && (q & 1)))
    q++;
  return q;
}

/* Exact integer version of try_digits for normal v in [2^-17, 2^127):
 * v = m * 2^be with m < 2^53.  The candidate N * 10^-k (k = p - 1 - e10)
 * and v are compared in a common integer scale where the half gaps to
 * the neighbouring doubles are integers too, so "reads back as v" is
 * decided exactly (ties included: a boundary counts when m is even, as
 * round-half-even strtod does).  Returns 1 / 0 like try_digits, or -1
 * when v is outside the supported range. */
static int try_digits_exact(double v, int p, char digits[24], int *e_out, int up)
{
  uint64_t bits, m;
  int be, e10, k, lopsided;
  uint64_t nv;
  u128 x, unit, num, den;

  memcpy(&bits, &v, sizeof bits);
  be = (int)((bits >> 52) & 0x7FF);
  if (be == 0 || be == 0x7FF)
    return -1;
  m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
  lopsided = m == (UINT64_C(1) << 52) && be > 1;
  be -= 1075; /* v = m * 2^be */
  if (be < -70 || be > 74)
    return -1;
  e10 = (int)floor(log10(v));
  for (int tries = 0;; tries++) {
    if (tries > 2)
      return -1;
    k = p - 1 - e10;
    /* v * 10^k = num / den, all integers. */
    if (be <= 0) {
      if (k >= 0) {
        if (k > 22)
          return -1;
        num = (u128)m * pow10_128(k);
        den = (u128)1 << -be;
      } else {
        num = m;
        den = ((u128)1 << -be) * pow10_128(-k);
      }
    } else {
      if (k >= 0) {
        if (k > 2)
          return -1;
        num = ((u128)m << be) * pow10_128(k);
        den = 1;
      } else {
        if (-k > 38)
          return -1;
        num = (u128)m << be;
        den = pow10_128(-k);
      }
    }
    /* e10 must be exact: 10^(p-1) <= v * 10^k < 10^p, before rounding
     * (log10 can be one off next to a power of ten). */
    x = num / den;
    if (x < pow10_u64[p - 1]) {
      e10--;
      continue;
    }
    if (x >= pow10_u64[p]) {
      e10++;
      continue;
    }
    x = div_round(num, den);
    break;
  }
  /* The gap to the next double, in the same scale as num: 2^be * 10^k *
   * den.  Both half gaps are compared doubled (or quadrupled below a
   * power of two) to stay in integers. */
  if (be <= 0)
    unit = k >= 0 ? pow10_128(k) : 1; /* 2^be * 10^k * den */
  else
    unit = k >= 0 ? ((u128)1 << be) * pow10_128(k) : (u128)1 << be;
  for (int step = 0; step < 2; step++) {
    u128 cand = x * den, diff;
    int below = cand < num, ok;
    diff = below ? num - cand : cand - num;
    if (below && lopsided)
      ok = diff * 4 < unit || (diff * 4 == unit && (m & 1) == 0);
    else
      ok = diff * 2 < unit || (diff * 2 == unit && (m & 1) == 0);
    if (ok || !up || !below || step == 1) {
      nv = (uint64_t)x;
      *e_out = e10;
      if (nv == pow10_u64[p]) { /* rounded up to the next power of ten */
        nv = pow10_u64[p - 1];
        ++*e_out;
      }
      for (int i = p - 1; i >= 0; i--) {
        digits[i] = (char)('0' + nv % 10);
        nv /= 10;
      }
      return ok;
    }
    x++; /* the neighbour above */
  }
  return 0;
}
#endif

static int try_digits(double v, int p, char digits[24], int *e, int up)
{
#ifdef HAVE_EXACT
  int r = try_digits_exact(v, p, digits, e, up);
  if (r >= 0)
    return r;
#endif
  return try_digits_printf(v, p, digits, e, up);
}

/* Fast path for values with at most 15 significant digits in the range
 * where Clinger's method is exact (1e-8 <= v < 1e37): scale v to a 15-digit
 * integer N in floating point, then check that N x 10^(e-14), computed
 * with one correctly rounded operation on exact operands, is v again.
 * The scaling may be off by one in the last place; that is harmless,
 * because at most one 15-digit decimal can read back as a normal double
 * (see the file comment), so an N that passes the check is that decimal.
 * Returns 1 with the 15 digits and the exponent, or 0 (use the slow path). */
static int fast15(double v, char digits[24], int *e_out)
{
  int e, p;
  double scaled, back;
  uint64_t nv;

  if (v < 1e-8 || v >= 1e37)
    return 0;
  e = (int)floor(log10(v));
  for (int tries = 0; tries < 2; tries++) {
    p = 14 - e;
    if (p < -22 || p > 22)
      return 0;
    scaled = p >= 0 ? v * pow10_exact[p] : v / pow10_exact[-p];
    nv = (uint64_t)(scaled + 0.5);
    if (nv >= UINT64_C(1000000000000000)) {
      e++; /* log10 rounded up to the next power of ten */
      continue;
    }
    if (nv < UINT64_C(100000000000000)) {
      e--;
      continue;
    }
    back = p >= 0 ? (double)nv / pow10_exact[p] : (double)nv * pow10_exact[-p];
    if (back != v)
      return 0;
    for (int i = 14; i >= 0; i--) {
      digits[i] = (char)('0' + nv % 10);
      nv /= 10;
    }
    *e_out = e;
    return 1;
  }
  return 0;
}

/* Shortest round-trip digits of v > 0 (finite), closest to v among the
 * shortest.  Returns the digit count; *n is the decimal point position
 * (v ~ 0.d1d2... x 10^n). */
static int shortest_digits(double v, char digits[24], int *n)
{
  int e = 0, k;

  if (v >= DBL_MIN) {
    if (fast15(v, digits, &e) || try_digits(v, 15, digits, &e, 0)) {
      k = 15;
      while (k > 1 && digits[k - 1] == '0')
        k--;
    } else if (try_digits(v, 16, digits, &e, 1)) {
      k = 16;
    } else {
      (void)try_digits(v, 17, digits, &e, 0);
      k = 17;
    }
  } else {
    for (k = 1; k < 17; k++)
      if (try_digits(v, k, digits, &e, 1))
        break;
    if (k == 17)
      (void)try_digits(v, 17, digits, &e, 0);
  }
  *n = e + 1;
  return k;
}

size_t tide_json_format_number(char out[TIDE_JSON_NUMBER_BYTES], double d)
{
  char digits[24], *o = out;
  int k, n;

  if (isnan(d)) {
    memcpy(out, "NaN", 4);
    return 3;
  }
  if (isinf(d)) {
    if (d < 0) {
      memcpy(out, "-Infinity", 10);
      return 9;
    }
    memcpy(out, "Infinity", 9);
    return 8;
  }
  if (d == 0) { /* both zeros print "0" */
    out[0] = '0';
    out[1] = '\0';
    return 1;
  }
  if (d < 0) {
    *o++ = '-';
    d = -d;
  }
  if (d < 9007199254740992.0 && d == (double)(uint64_t)d) {
    uint64_t u = (uint64_t)d;
    char tmp[24];
    int i = 0;
    while (u > 0) {
      tmp[i++] = (char)('0' + u % 10);
      u /= 10;
    }
    while (i > 0)
      *o++ = tmp[--i];
    *o = '\0';
    return (size_t)(o - out);
  }
  k = shortest_digits(d, digits, &n);
  if (k <= n && n <= 21) {
    memcpy(o, digits, (size_t)k);
    o += k;
    memset(o, '0', (size_t)(n - k));
    o += n - k;
  } else if (0 < n && n <= 21) {
    memcpy(o, digits, (size_t)n);
    o += n;
    *o++ = '.';
    memcpy(o, digits + n, (size_t)(k - n));
    o += k - n;
  } else if (-6 < n && n <= 0) {
    *o++ = '0';
    *o++ = '.';
    memset(o, '0', (size_t)-n);
    o += -n;
    memcpy(o, digits, (size_t)k);
    o += k;
  } else {
    int e = n - 1;
    *o++ = digits[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, digits + 1, (size_t)(k - 1));
      o += k - 1;
    }
    o += snprintf(o, 8, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  }
  *o = '\0';
  return (size_t)(o - out);
}
