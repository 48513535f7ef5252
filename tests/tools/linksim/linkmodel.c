/* linkmodel.c - see linkmodel.h. */
#include "linkmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HIST   512
#define MAXOUT 16

typedef struct packet {
  uint64_t start_us, end_us, deliver_us;
  uint8_t *bytes;
  size_t len;
  struct packet *next;
} packet;

typedef struct dir {
  uint64_t uart_end; /* last written byte finishes at */
  uint8_t *open;     /* packet being assembled */
  size_t open_len;
  uint64_t open_start, open_last_end;
  packet *head, *tail;                       /* closed, waiting for delivery */
  uint64_t hist_start[HIST], hist_end[HIST]; /* air intervals, for collisions */
  size_t hist_n;
  uint8_t *rx; /* bytes delivered to the other endpoint */
  size_t rx_len, rx_cap;
  uint64_t rng;
} dir;

struct linkmodel {
  linkmodel_params p;
  uint64_t byte_us_x1000; /* byte time in ns */
  uint64_t gap_us;
  dir d[2];
  uint64_t out_from[MAXOUT], out_to[MAXOUT];
  size_t n_out;
  linkmodel_stats st;
};

static uint64_t rng_next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
  return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

linkmodel *linkmodel_new(const linkmodel_params *p)
{
  linkmodel *m;
  if (p->baud == 0 || p->packet_bytes == 0)
    return NULL;
  m = calloc(1, sizeof *m);
  if (m == NULL)
    return NULL;
  m->p = *p;
  m->byte_us_x1000 = 10000000000ULL / p->baud;
  m->gap_us = 3 * m->byte_us_x1000 / 1000 + 1;
  for (int i = 0; i < 2; i++) {
    m->d[i].open = malloc(p->packet_bytes);
    if (m->d[i].open == NULL) {
      linkmodel_free(m);
      return NULL;
    }
    m->d[i].rng = p->seed * 2 + (uint64_t)i + 1;
  }
  return m;
}

void linkmodel_free(linkmodel *m)
{
  if (m == NULL)
    return;
  for (int i = 0; i < 2; i++) {
    packet *q = m->d[i].head;
    while (q) {
      packet *n = q->next;
      free(q->bytes);
      free(q);
      q = n;
    }
    free(m->d[i].open);
    free(m->d[i].rx);
  }
  free(m);
}

static void close_packet(linkmodel *m, int from)
{
  dir *d = &m->d[from];
  packet *q;
  if (d->open_len == 0)
    return;
  q = calloc(1, sizeof *q);
  if (q == NULL)
    abort(); /* test tool: out of memory is fatal */
  q->bytes = malloc(d->open_len);
  if (q->bytes == NULL)
    abort();
  memcpy(q->bytes, d->open, d->open_len);
  q->len = d->open_len;
  q->start_us = d->open_start;
  q->end_us = d->open_last_end;
  q->deliver_us = q->end_us + m->p.latency_us;
  if (d->tail)
    d->tail->next = q;
  else
    d->head = q;
  d->tail = q;
  d->hist_start[d->hist_n % HIST] = q->start_us;
  d->hist_end[d->hist_n % HIST] = q->end_us;
  d->hist_n++;
  d->open_len = 0;
  m->st.packets[from]++;
}

int linkmodel_write(linkmodel *m, int from, uint64_t now_us, const uint8_t *b, size_t n)
{
  dir *d = &m->d[from];
  /* Track the UART in ns so rounding does not accumulate. */
  uint64_t t_ns = d->uart_end * 1000;
  if (t_ns < now_us * 1000)
    t_ns = now_us * 1000;
  for (size_t i = 0; i < n; i++) {
    uint64_t start_us = t_ns / 1000;
    if (d->open_len > 0 &&
        (d->open_len >= m->p.packet_bytes || start_us > d->open_last_end + m->gap_us))
      close_packet(m, from);
    if (d->open_len == 0)
      d->open_start = start_us;
    d->open[d->open_len++] = b[i];
    t_ns += m->byte_us_x1000;
    d->open_last_end = (t_ns + 999) / 1000;
  }
  d->uart_end = (t_ns + 999) / 1000;
  m->st.bytes_in[from] += n;
  return 0;
}

static int overlaps(const dir *o, const linkmodel *m, uint64_t s, uint64_t e)
{
  size_t n = o->hist_n < HIST ? o->hist_n : HIST;
  for (size_t k = 0; k < n; k++) {
    size_t i = (o->hist_n - 1 - k) % HIST;
    if (o->hist_start[i] < e && s < o->hist_end[i])
      return 1;
    if (o->hist_end[i] + 10 * m->p.latency_us + 1000000 < s)
      break;
  }
  if (o->open_len > 0 && o->open_start < e && s < o->open_last_end)
    return 1;
  return 0;
}

static void rx_push(dir *d, const uint8_t *b, size_t n)
{
  if (d->rx_len + n > d->rx_cap) {
    size_t cap = d->rx_cap ? d->rx_cap : 4096;
    uint8_t *q;
    while (cap < d->rx_len + n)
      cap *= 2;
    q = realloc(d->rx, cap);
    if (q == NULL)
      abort();
    d->rx = q;
    d->rx_cap = cap;
  }
  memcpy(d->rx + d->rx_len, b, n);
  d->rx_len += n;
}

static void deliver(linkmodel *m, int from, packet *q)
{
  dir *d = &m->d[from];
  int lost = 0;
  for (size_t i = 0; i < m->n_out; i++)
    if (q->start_us < m->out_to[i] && m->out_from[i] < q->end_us + m->p.latency_us) {
      m->st.outage[from]++;
      return;
    }
  if (m->p.half_duplex && overlaps(&m->d[1 - from], m, q->start_us, q->end_us)) {
    m->st.collided[from]++;
    return;
  }
  if (m->p.loss > 0 && rng_unit(&d->rng) < m->p.loss) {
    m->st.lost[from]++;
    lost = 1;
  }
  if (lost)
    return;
  if (m->p.ber > 0) {
    /* Geometric gaps between flipped bits. */
    double lb = log1p(-m->p.ber);
    uint64_t bits = (uint64_t)q->len * 8, pos = 0;
    int hit = 0;
    for (;;) {
      double u = rng_unit(&d->rng);
      uint64_t skip = (uint64_t)floor(log1p(-u) / lb);
      if (skip >= bits - pos)
        break;
      pos += skip;
      q->bytes[pos / 8] ^= (uint8_t)(1u << (pos % 8));
      hit = 1;
      pos++;
      if (pos >= bits)
        break;
    }
    if (hit)
      m->st.corrupted[from]++;
  }
  rx_push(&m->d[from], q->bytes, q->len);
  m->st.bytes_out[1 - from] += q->len;
  if (m->p.dup > 0 && rng_unit(&d->rng) < m->p.dup) {
    rx_push(&m->d[from], q->bytes, q->len);
    m->st.bytes_out[1 - from] += q->len;
    m->st.duplicated[from]++;
  }
}

static void advance(linkmodel *m, uint64_t now_us)
{
  for (int i = 0; i < 2; i++) {
    dir *d = &m->d[i];
    if (d->open_len > 0 && now_us > d->open_last_end + m->gap_us)
      close_packet(m, i);
  }
  /* Deliver in time order across both directions (collision checks look
   * at the other direction's history, which is complete by then). */
  for (;;) {
    int best = -1;
    for (int i = 0; i < 2; i++)
      if (m->d[i].head && m->d[i].head->deliver_us <= now_us &&
          (best < 0 || m->d[i].head->deliver_us < m->d[best].head->deliver_us))
        best = i;
    if (best < 0)
      break;
    {
      packet *q = m->d[best].head;
      m->d[best].head = q->next;
      if (m->d[best].head == NULL)
        m->d[best].tail = NULL;
      deliver(m, best, q);
      free(q->bytes);
      free(q);
    }
  }
}

size_t linkmodel_read(linkmodel *m, int to, uint64_t now_us, uint8_t *out, size_t cap)
{
  dir *d = &m->d[1 - to];
  size_t n;
  advance(m, now_us);
  n = d->rx_len < cap ? d->rx_len : cap;
  if (n == 0)
    return 0;
  memcpy(out, d->rx, n);
  memmove(d->rx, d->rx + n, d->rx_len - n);
  d->rx_len -= n;
  return n;
}

uint64_t linkmodel_next_event(const linkmodel *m)
{
  uint64_t t = UINT64_MAX;
  for (int i = 0; i < 2; i++) {
    const dir *d = &m->d[i];
    if (d->open_len > 0 && d->open_last_end + m->gap_us + 1 < t)
      t = d->open_last_end + m->gap_us + 1;
    if (d->head && d->head->deliver_us < t)
      t = d->head->deliver_us;
    if (d->rx_len > 0)
      return 0;
  }
  return t;
}

void linkmodel_outage(linkmodel *m, uint64_t from_us, uint64_t to_us)
{
  if (m->n_out < MAXOUT) {
    m->out_from[m->n_out] = from_us;
    m->out_to[m->n_out] = to_us;
    m->n_out++;
  }
}

uint64_t linkmodel_tx_idle_at(const linkmodel *m, int from)
{
  return m->d[from].uart_end;
}

void linkmodel_get_stats(const linkmodel *m, linkmodel_stats *st)
{
  *st = m->st;
}
