#!/usr/bin/env node
// gen-conformance.js - conformance vectors made by the JavaScript reference.
//
// Every message here is created and signed by ssb-validate.create /
// ssb-keys.signObj (ssb-validate 4.1.4, ssb-keys 8.5.0), and every verdict,
// id and error text is what ssb-validate computes when this script RUNS it:
// nothing is assumed.  The output is deterministic: keys come from fixed
// seeds (ssb-keys.generate('ed25519', seed)) and content from a seeded PRNG.
//
//   node gen-conformance.js OUTDIR
//
// writes into OUTDIR:
//   valid.jsonl        {"key","value"} per line: >= 2,000 valid messages of
//                      >= 20 main-network feeds (no HMAC key), each feed in
//                      order, feeds interleaved; ids from ssb-validate.id.
//   valid-cases.jsonl  valid cases with their state and HMAC key
//                      {"kind","state","hmacKey","message","valid":true,"id"}:
//                      HMAC ("sign cap") feeds and hand-shaped messages the
//                      reference accepts (author/sequence swapped, timestamp
//                      not a number after seq 1, sequence 2^31-1, ...).
//   invalid.jsonl      {"kind","state","hmacKey","message","valid":false,
//                      "error"}: >= 20 kinds of rejection, error = the message
//                      of the Error ssb-validate.checkInvalid returned.
//   wire.txt           raw JSON texts of valid messages written in
//                      non-canonical ways (escapes, number spellings,
//                      whitespace, duplicate keys), one per line, and
//   wire-expect.jsonl  per wire.txt line {"state","hmacKey","valid","id"|"error"}
//                      from JSON.parse + checkInvalid + id.
//   import.jsonl       a CLI import file: valid lines, duplicates, a gap,
//                      a fork, invalid lines; and
//   import-expect.json the report `tide import` must print for it, from the
//                      reference's verdicts (see docs/conformance.md).
//   summary.json       counts (messages, feeds, kinds).
'use strict'
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const ssbKeys = require('ssb-keys')
const validate = require('ssb-validate')

const outDir = process.argv[2]
if (!outDir) {
  console.error('usage: gen-conformance.js OUTDIR')
  process.exit(2)
}
fs.mkdirSync(outDir, { recursive: true })

// ---------------------------------------------------------------- helpers

// mulberry32: a small seeded PRNG, so the vectors are the same every run.
function prng (seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rnd = prng(0x7469646)
const int = (n) => Math.floor(rnd() * n)
const pick = (a) => a[int(a.length)]

function keysFor (label) {
  const seed = crypto.createHash('sha256').update('tide-conformance:' + label).digest()
  return ssbKeys.generate('ed25519', seed)
}
function hmacFor (label) {
  return crypto.createHash('sha256').update('tide-conformance-hmac:' + label).digest().toString('base64')
}

const encode = (m) => JSON.stringify(m, null, 2)
const stateOf = (msg) => ({ id: validate.id(msg), sequence: msg.sequence })
// ssb-validate.create wants a feed state with a queue (flatState).
const createState = (s) => (s ? { id: s.id, sequence: s.sequence, timestamp: 0, queue: [] } : null)

// Verdicts are computed on the message as it travels (JSON text), which
// differs from the object in memory for NaN, Infinity and undefined.
const wireForm = (msg) => JSON.parse(JSON.stringify(msg))

function verdict (state, hmacKey, msg) {
  msg = wireForm(msg)
  const err = validate.checkInvalid(state, hmacKey, msg)
  return err ? { valid: false, error: err.message, fatal: !!err.fatal } : { valid: true, id: validate.id(msg) }
}

// ------------------------------------------------------- tricky content

const CHARS = [
  'a', 'Z', '0', ' ', '~', '/', '"', '\\', "'", '<', '&',
  '\b', '\f', '\n', '\r', '\t', '\u0000', '\u0001', '\u001f', '\u007f',
  '\u0080', '\u00a0', '\u00e9', '\u00ff', '\u0100', '\u2028', '\u2029',
  '\ufeff', '\ufffd', '\uffff', '\u200b', '\u200d',
  '漢', '字', 'か', 'な', '한', '국', '中', '文', '𠀀', '𪚥',
  '😀', '🏳️‍🌈', '👩‍👩‍👧', '🇳🇴', '👍🏽',
  'e\u0301', 'a\u0308', 'n\u0303\u0323', '\u0301', 'Å', 'Å',
  '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d', '\ude00'
]
for (let c = 0; c < 0x20; c++) CHARS.push(String.fromCharCode(c))

function randString (max) {
  const n = int(max + 1)
  let s = ''
  for (let i = 0; i < n; i++) s += pick(CHARS)
  return s
}

const NUMBERS = [
  0, -0, 1, -1, 0.1 + 0.2, 0.1, 0.5, 1 / 3, 2 / 3, 1e21, 1e-7, 1e-6, 1.5e-7,
  0.000001, 0.0000001, 1e20, 123456789012345680000, 9.999999999999999e20,
  2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 63, 2 ** 64, 18446744073709552000,
  1e100, 1e300, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308,
  2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 4294967295, 1e15, 1e16, 1e17,
  123e-20, 4.35, 100, 1000000, 1e6 + 0.5, 299792458, 3.141592653589793,
  2.718281828459045, -1e-7, -1e21, 1.0000000000000002, 0.30000000000000004,
  NaN, Infinity, -Infinity
]

// A random double from random bits (finite ones), which exercises the
// shortest-round-trip number printer far from the nice values above.
function randDouble () {
  const b = Buffer.alloc(8)
  for (let i = 0; i < 8; i++) b[i] = int(256)
  const d = b.readDoubleLE(0)
  return Number.isFinite(d) ? d : int(1000) / 7
}

const KEYS = [
  'text', 'a', 'b', 'z', '', '0', '1', '2', '10', '01', '-1', '1.5', '007',
  '4294967294', '4294967295', '9007199254740993', 'é', '漢字', '😀', '\u0000',
  'key with space', 'type2', 'constructor', 'toString', 'length'
]

function randValue (depth, budget) {
  const r = int(depth > 5 ? 6 : 10)
  switch (r) {
    case 0: return null
    case 1: return rnd() < 0.5
    case 2: return pick(NUMBERS)
    case 3: return randDouble()
    case 4: return Math.floor(randDouble()) || int(1e9)
    case 5: return randString(Math.min(budget, 40))
    case 6: case 7: {
      const a = []
      const n = int(5)
      for (let i = 0; i < n; i++) a.push(randValue(depth + 1, budget / 2))
      return a
    }
    default: {
      const o = {}
      const n = int(5)
      for (let i = 0; i < n; i++) {
        o[rnd() < 0.5 ? pick(KEYS) : randString(6)] = randValue(depth + 1, budget / 2)
      }
      return o
    }
  }
}

function deep (n, leaf) {
  let v = leaf
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v }
  return v
}

// Fixed content values, each used at least once.
const FIXED = [
  { type: 'post', text: '漢字かな交じり文 한국어 中文 𠀀𪚥' },
  { type: 'post', text: '😀🏳️‍🌈👩‍👩‍👧🇳🇴👍🏽', emoji: ['😀', '\ud83d\ude00'] },
  { type: 'post', text: 'e\u0301 a\u0308 n\u0303\u0323 Å vs Å', nfc: 'é', nfd: 'e\u0301' },
  { type: 'post', lone: ['\ud800', '\udbff', '\udc00', '\udfff', 'a\ud83d', '\ude00\ud83d', '\ud83d\ud83d'] },
  { type: 'post', esc: '"\\/\b\f\n\r\t', ctl: Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''), del: '\u007f\u0080\u009f', sep: '\u2028\u2029', bom: '\ufeff\uffff\ufffe' },
  { type: 'numbers', a: 1e21, b: 1e-7, c: 0.1 + 0.2, d: -0, e: 1e20, f: 1e-6, g: 123456789012345680000, h: 5e-324, i: 1.7976931348623157e308 },
  { type: 'bigints', a: 2 ** 53, b: 2 ** 53 + 2, c: 2 ** 64, d: -(2 ** 63), e: 1e300, f: 9007199254740993 },
  { type: 'nested', a: { b: { c: { d: [1, [2, [3, [4, { e: [] }]]]] } } }, f: [[[[[]]]]], g: [{}, [], '', null] },
  { type: 'empty', s: '', o: {}, a: [], n: null, t: true, f: false },
  { type: 'order', b: 1, a: 2, 10: 'ten', 2: 'two', 1: 'one', '01': 'zero-one', '-1': 'minus', 4294967294: 'max index', 4294967295: 'not an index' },
  { type: 'deep', v: deep(60, 'bottom') },
  { type: 'abc' },
  { type: 'x'.repeat(52) },
  { type: '漢字か' },
  { type: '😀😀' }, // 4 UTF-16 units
  { type: '😀'.repeat(26) }, // 52 units
  { type: 'post', mentions: [[null, false]], channel: '' },
  { type: 'contact', contact: '@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519', following: true },
  JSON.parse('{"type":"proto","__proto__":{"x":1},"constructor":"c"}'),
  { type: 'key\u0000nul', '\u0000': '\u0000', '': '' },
  'aGVsbG8gd29ybGQ=.box',
  'AAAA.box2',
  'aGVsbG8=.box.something-else'
]

// --------------------------------------------------------------- feeds

const N_FEEDS = 24
const PER_FEED = 90
const feeds = []
for (let f = 0; f < N_FEEDS; f++) {
  feeds.push({ keys: keysFor('feed-' + f), state: null, msgs: [] })
}

// Timestamp styles per feed: integers, floats, odd but numeric values.
function timestampFor (f, i) {
  const base = 1700000000000 + f * 1e7 + i * 1013
  switch (f % 6) {
    case 0: return base
    case 1: return base + 0.25
    case 2: return i === 0 ? 0 : base
    case 3: return i % 7 === 3 ? -1.5 : base
    case 4: return i % 11 === 5 ? 1e21 : base + i / 3
    default: return i % 13 === 1 ? 5e-324 : base
  }
}

function createFeedMessage (feed, hmacKey, content, ts) {
  let msg
  try {
    msg = validate.create(createState(feed.state), feed.keys, hmacKey, content, ts)
  } catch (e) {
    return null // the unsigned message is already too large: pick other content
  }
  const v = verdict(feed.state, hmacKey, msg)
  if (!v.valid) return null
  feed.state = { id: v.id, sequence: msg.sequence }
  feed.msgs.push({ key: v.id, value: msg })
  return msg
}

// Size of the signed message of `content` as next message of feed.
function signedLength (feed, hmacKey, content, ts) {
  const msg = validate.create(createState(feed.state), feed.keys, hmacKey, content, ts)
  return encode(msg).length
}

// Content whose signed message has exactly `target` UTF-16 units: `unit`
// repeated as far as it fits, then ASCII filler.
function exactSize (feed, hmacKey, ts, target, unit) {
  const len0 = signedLength(feed, hmacKey, { type: 'pad', text: '', fill: '' }, ts)
  const w = encode(unit).length - 2 // printed width of one unit
  const n = Math.floor((target - len0) / w)
  const c = { type: 'pad', text: unit.repeat(n), fill: 'f'.repeat(target - len0 - n * w) }
  const len = signedLength(feed, hmacKey, c, ts)
  if (len !== target) throw new Error('could not hit size ' + target + ' (got ' + len + ')')
  return c
}

const PAD_UNITS = ['a', 'é', '漢', '😀', '\u0000', '\n', '"', '\ud800']
const fixedUsed = new Set()
for (let i = 0; i < PER_FEED; i++) {
  for (let f = 0; f < N_FEEDS; f++) {
    const feed = feeds[f]
    const ts = timestampFor(f, i)
    let content
    const slot = (i * N_FEEDS + f)
    if (slot < FIXED.length) {
      content = FIXED[slot]
      fixedUsed.add(slot)
    } else if (i % 15 === 7) {
      // near the 8192 limit: exactly 8192 or 8191 units, various padding
      content = exactSize(feed, null, ts, 8192 - (f % 2), PAD_UNITS[(i + f) % PAD_UNITS.length])
    } else if (rnd() < 0.1) {
      content = pick(FIXED)
    } else {
      content = { type: pick(['post', 'vote', 'about', 'contact', 'tide-test', '漢字かな', '😀😀😀']) }
      const n = 1 + int(6)
      for (let k = 0; k < n; k++) content[rnd() < 0.6 ? pick(KEYS) : randString(8)] = randValue(0, 200)
    }
    let msg = createFeedMessage(feed, null, content, ts)
    for (let tries = 0; !msg && tries < 20; tries++) {
      msg = createFeedMessage(feed, null, { type: 'retry', text: randString(30), n: randDouble() }, ts)
    }
    if (!msg) throw new Error('could not create a valid message for feed ' + f)
  }
}
if (fixedUsed.size !== FIXED.length) throw new Error('not every fixed content was used')

// Two feeds dense with numbers, for the shortest-round-trip printer (and,
// re-spelled below, the parser): doubles from random bits, decimals with
// random digits and exponents, values next to the 1e21 / 1e-7 switches,
// powers of two and ten, integers near 2^53 and 2^64, subnormals.
function nextUp (x, k) {
  const b = Buffer.alloc(8)
  b.writeDoubleLE(x)
  b.writeBigInt64LE(b.readBigInt64LE() + BigInt(k))
  return b.readDoubleLE()
}
function numberSet () {
  const out = []
  for (let i = 0; i < 12; i++) out.push(randDouble())
  for (let i = 0; i < 10; i++) {
    let d = String(1 + int(9))
    const n = int(20)
    for (let j = 0; j < n; j++) d += String(int(10))
    out.push(Number((rnd() < 0.3 ? '-' : '') + d[0] + '.' + d.slice(1) + 'e' + (int(640) - 330)))
  }
  for (const edge of [1e21, 1e-7, 1e-6, 2 ** 53, 2 ** 64, 1e16, 1e17, 5e-324, 2.2250738585072014e-308, 0.1, 1 / 3]) {
    out.push(nextUp(edge, int(5) - 2))
  }
  out.push(2 ** (int(2098) - 1074), 10 ** (int(600) - 300), Math.floor(rnd() * 2 ** 53) * 2 ** int(12))
  return out.filter((x) => Number.isFinite(x))
}
const numFeeds = []
for (let f = 0; f < 2; f++) {
  const feed = { keys: keysFor('numbers-' + f), state: null, msgs: [] }
  for (let i = 0; i < 60; i++) {
    let msg = null
    for (let tries = 0; !msg && tries < 5; tries++) {
      msg = createFeedMessage(feed, null, { type: 'numbers', n: numberSet(), o: { a: randDouble(), b: -randDouble() } }, 1700000000000 + i * 977 + rnd())
    }
    if (!msg) throw new Error('could not create a numbers message')
  }
  numFeeds.push(feed)
}

const validLines = []
for (let i = 0; i < PER_FEED; i++) {
  for (let f = 0; f < N_FEEDS; f++) validLines.push(JSON.stringify(feeds[f].msgs[i]))
}
for (let i = 0; i < 60; i++) {
  for (const feed of numFeeds) validLines.push(JSON.stringify(feed.msgs[i]))
}
fs.writeFileSync(path.join(outDir, 'valid.jsonl'), validLines.join('\n') + '\n')

// ------------------------------------------------------ valid cases

const validCases = []
function addValid (kind, state, hmacKey, msg) {
  const v = verdict(state, hmacKey, msg)
  if (!v.valid) throw new Error('expected valid (' + kind + '): ' + v.error)
  validCases.push({ kind, state, hmacKey, message: msg, valid: true, id: v.id })
}

// HMAC (sign-cap) feeds, chained.
for (let h = 0; h < 4; h++) {
  const feed = { keys: keysFor('hmac-feed-' + h), state: null, msgs: [] }
  const key = hmacFor('net-' + (h % 2))
  for (let i = 0; i < 40; i++) {
    const state = feed.state
    const content = i % 9 === 4 ? pick(FIXED) : { type: 'hmac-test', i, v: randValue(0, 100) }
    const msg = createFeedMessage(feed, key, content, timestampFor(h, i))
    if (!msg) continue
    addValid('hmac feed ' + h, state, key, msg)
  }
}

// Hand-shaped messages, signed with ssb-keys.signObj.
const hk = keysFor('hand')
const sign = (keys, hmacKey, obj) => ssbKeys.signObj(keys, hmacKey, obj)
const h1 = sign(hk, null, { previous: null, author: hk.id, sequence: 1, timestamp: 1, hash: 'sha256', content: { type: 'author-first' } })
addValid('author before sequence', null, null, h1)
const h1s = stateOf(h1)
addValid('timestamp a string after seq 1', h1s, null, sign(hk, null, { previous: h1s.id, author: hk.id, sequence: 2, timestamp: 'yesterday', hash: 'sha256', content: { type: 'odd-time' } }))
addValid('timestamp null after seq 1', h1s, null, sign(hk, null, { previous: h1s.id, sequence: 2, author: hk.id, timestamp: null, hash: 'sha256', content: { type: 'odd-time' } }))
addValid('timestamp an object after seq 1', h1s, null, sign(hk, null, { previous: h1s.id, sequence: 2, author: hk.id, timestamp: { t: [1] }, hash: 'sha256', content: { type: 'odd-time' } }))
addValid('timestamp negative float', null, null, sign(hk, null, { previous: null, sequence: 1, author: hk.id, timestamp: -123.456, hash: 'sha256', content: { type: 'neg-time' } }))
const bigPrev = '%' + crypto.createHash('sha256').update('big').digest('base64') + '.sha256'
addValid('sequence 2^31-1', { id: bigPrev, sequence: 2 ** 31 - 2 }, null, sign(hk, null, { previous: bigPrev, sequence: 2 ** 31 - 1, author: hk.id, timestamp: 2, hash: 'sha256', content: { type: 'big-seq' } }))
addValid('box content', null, null, sign(hk, null, { previous: null, sequence: 1, author: hk.id, timestamp: 3, hash: 'sha256', content: 'aGVsbG8gd29ybGQ=.box' }))
addValid('box content, later box version', null, null, sign(hk, null, { previous: null, sequence: 1, author: hk.id, timestamp: 3, hash: 'sha256', content: 'AAAA.box2.extra' }))
addValid('content with extra top-level-like keys', null, null, sign(hk, null, { previous: null, sequence: 1, author: hk.id, timestamp: 4, hash: 'sha256', content: { type: 'post', previous: 'x', signature: 'y', sequence: -1 } }))
const sizeFeed = { keys: keysFor('size'), state: null, msgs: [] }
for (const unit of ['a', '😀', '\u0001', '漢']) {
  const c = exactSize(sizeFeed, null, 5, 8192, unit)
  addValid('exactly 8192 units, padding ' + JSON.stringify(unit), null, null, validate.create(null, sizeFeed.keys, null, c, 5))
}
// the go-ssb TestVerifyBugs style: a type of exactly 3 and 52 units, via create
addValid('type of 3 units', null, null, validate.create(null, hk, null, { type: 'abc' }, 6))
addValid('type of 52 units', null, null, validate.create(null, hk, null, { type: '😀'.repeat(26) }, 6))


// --------------------------------------------------- invalid cases

const invalid = []
const kinds = new Set()
function addInvalid (kind, state, hmacKey, msg) {
  const v = verdict(state, hmacKey, msg)
  if (v.valid) throw new Error('expected invalid (' + kind + ') but the reference accepts it')
  kinds.add(kind)
  invalid.push({ kind, state, hmacKey, message: msg, valid: false, error: v.error, fatal: v.fatal })
}

const ik = keysFor('invalid')
const ik2 = keysFor('invalid-2')
const mk = (keys, hmacKey, content, st, ts) => validate.create(createState(st), keys, hmacKey, content, ts == null ? 1700000000000 : ts)
const a1 = mk(ik, null, { type: 'post', text: 'first' }, null)
const s1 = stateOf(a1)
const a2 = mk(ik, null, { type: 'post', text: 'second' }, s1)
const s2 = stateOf(a2)
const a3 = mk(ik, null, { type: 'post', text: 'third' }, s2)
const clone = (o) => JSON.parse(JSON.stringify(o))
const reorder = (msg, order) => {
  const o = {}
  for (const k of order) if (k in msg) o[k] = msg[k]
  return o
}
// re-sign an arbitrary (unsigned) object with ssb-keys
const signed = (obj, keys, hmacKey) => sign(keys || ik, hmacKey || null, obj)
const unsigned = (msg) => { const o = clone(msg); delete o.signature; return o }

// signatures
{
  const m = clone(a2)
  const raw = Buffer.from(m.signature.slice(0, 88), 'base64')
  raw[10] ^= 1
  m.signature = raw.toString('base64') + '.sig.ed25519'
  addInvalid('bad signature (flipped bit)', s1, null, m)
  const t = clone(a2)
  t.content.text = 'tampered'
  addInvalid('content changed after signing', s1, null, t)
  const o = clone(a2)
  o.signature = a3.signature
  addInvalid('signature of another message', s1, null, o)
  const w = clone(a2)
  w.author = ik2.id
  addInvalid('author replaced (signature by another key)', s1, null, w)
  const z = clone(a1)
  z.signature = Buffer.alloc(64).toString('base64') + '.sig.ed25519'
  addInvalid('all-zero signature', null, null, z)
}
// chain
addInvalid('wrong previous (fork of the chain)', s1, null, mk(ik, null, { type: 'post', text: 'x' }, { id: '%' + Buffer.alloc(32, 7).toString('base64') + '.sha256', sequence: 1 }))
addInvalid('sequence skips ahead (gap)', s1, null, a3)
addInvalid('sequence repeats (replay)', s2, null, a2)
addInvalid('sequence behind (old message)', s2, null, a1)
addInvalid('first message with previous', null, null, a2)
addInvalid('first message with sequence 2 and previous null', null, null, signed({ previous: null, sequence: 2, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
addInvalid('first message with sequence 0', null, null, signed({ previous: null, sequence: 0, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
addInvalid('first message with sequence -1', null, null, signed({ previous: null, sequence: -1, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
addInvalid('first message timestamp a string', null, null, signed({ previous: null, sequence: 1, author: ik.id, timestamp: '1700000000000', hash: 'sha256', content: { type: 'post' } }))
addInvalid('first message timestamp null', null, null, signed({ previous: null, sequence: 1, author: ik.id, timestamp: null, hash: 'sha256', content: { type: 'post' } }))
{
  // a fork: two different messages at sequence 2
  const b2 = mk(ik, null, { type: 'post', text: 'other second' }, s1)
  addInvalid('fork: another message at a held sequence', s2, null, b2)
  const b3 = mk(ik, null, { type: 'post', text: 'after fork' }, stateOf(b2))
  addInvalid('fork: next message builds on the other branch', s2, null, b3)
}
// sequence values
addInvalid('sequence a float', s1, null, signed({ previous: s1.id, sequence: 2.5, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
addInvalid('sequence a numeric string', s1, null, signed({ previous: s1.id, sequence: '2', author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
addInvalid('sequence 1.5 first', null, null, signed({ previous: null, sequence: 1.5, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
{
  const st = { id: bigPrev, sequence: 2 ** 31 - 1 }
  addInvalid('sequence 2^31', st, null, signed({ previous: bigPrev, sequence: 2 ** 31, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
  const st2 = { id: bigPrev, sequence: 2 ** 53 }
  addInvalid('sequence 2^53+2', st2, null, signed({ previous: bigPrev, sequence: 2 ** 53 + 2, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
  addInvalid('sequence 1e21 first', null, null, signed({ previous: null, sequence: 1e21, author: ik.id, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
  addInvalid('sequence 2^31 after 2^31-1 swapped order', st, null, signed({ previous: bigPrev, author: ik.id, sequence: 2 ** 31, timestamp: 1, hash: 'sha256', content: { type: 'post' } }))
}
// key order and fields
const base1 = unsigned(a1)
addInvalid('bad order (timestamp before sequence)', null, null, signed(reorder(base1, ['previous', 'author', 'timestamp', 'sequence', 'hash', 'content'])))
addInvalid('bad order (content first)', null, null, signed(reorder(base1, ['content', 'previous', 'author', 'sequence', 'timestamp', 'hash'])))
addInvalid('bad order (signature not last)', null, null, reorder(a1, ['previous', 'author', 'sequence', 'timestamp', 'hash', 'signature', 'content']))
addInvalid('extra field', null, null, signed(Object.assign(clone(base1), { extra: 1 })))
addInvalid('extra field after signature', null, null, Object.assign(clone(a1), { extra: 'x' }))
{
  const noHash = clone(base1)
  delete noHash.hash
  addInvalid('missing field (hash)', null, null, signed(noHash))
  const noContent = clone(base1)
  delete noContent.content
  addInvalid('missing field (content)', null, null, signed(noContent))
  const noSig = clone(a1)
  delete noSig.signature
  addInvalid('missing signature', null, null, noSig)
  const noAuthor = clone(base1)
  delete noAuthor.author
  addInvalid('missing author', null, null, noAuthor)
}
addInvalid('hash not sha256', null, null, signed(Object.assign(clone(base1), { hash: 'blake2b' })))
addInvalid('hash SHA256 uppercase', null, null, signed(Object.assign(clone(base1), { hash: 'SHA256' })))
// content and type
const withContent = (content, st) => signed({ previous: st ? st.id : null, sequence: st ? st.sequence + 1 : 1, author: ik.id, timestamp: 1700000000000, hash: 'sha256', content })
addInvalid('type too short (2)', null, null, withContent({ type: 'ab' }))
addInvalid('type too short (emoji: 2 units)', null, null, withContent({ type: '😀' }))
addInvalid('type empty', null, null, withContent({ type: '' }))
addInvalid('type too long (53)', null, null, withContent({ type: 'y'.repeat(53) }))
addInvalid('type too long (27 emoji = 54 units)', null, null, withContent({ type: '😀'.repeat(27) }))
addInvalid('type a number', null, null, withContent({ type: 12345 }))
addInvalid('type a float', null, null, withContent({ type: 1e21 }))
addInvalid('type null', null, null, withContent({ type: null }))
addInvalid('type true', null, null, withContent({ type: true }))
addInvalid('type an array', null, null, withContent({ type: ['a', 'b', 1.5, null] }))
addInvalid('type an object', null, null, withContent({ type: { x: 1 } }))
addInvalid('type missing', null, null, withContent({ text: 'no type' }))
addInvalid('content an array', null, null, withContent(['post', 'x']))
addInvalid('content null', null, null, withContent(null))
addInvalid('content a number', null, null, withContent(42))
addInvalid('content a string without .box', null, null, withContent('hello world'))
addInvalid('content a box string, non-canonical base64', null, null, withContent('aGVsbG9=.box'))
addInvalid('content true', null, null, withContent(true))
// size
{
  const sf = { keys: ik, state: null, msgs: [] }
  for (const unit of ['a', '😀', '\u0001']) {
    const c = exactSize(sf, null, 1700000000000, 8193, unit)
    addInvalid('oversized: 8193 units, padding ' + JSON.stringify(unit), null, null, validate.create(null, ik, null, c, 1700000000000))
  }
  addInvalid('oversized: nested 100 deep', null, null, withContent({ type: 'deep', v: deep(100, 1) }))
  addInvalid('oversized: nested 1000 deep', null, null, withContent({ type: 'deep', v: deep(1000, 1) }))
  addInvalid('oversized: nested 3000 deep', null, null, withContent({ type: 'deep', v: deep(3000, 1) }))
  const big = { type: 'big', text: 'x'.repeat(9000) }
  addInvalid('oversized: 9000+ units', null, null, signed({ previous: null, sequence: 1, author: ik.id, timestamp: 1, hash: 'sha256', content: big }))
}
// author
const withAuthor = (author) => signed({ previous: null, sequence: 1, author, timestamp: 1, hash: 'sha256', content: { type: 'post' } })
addInvalid('bad author: no sigil', null, null, withAuthor(ik.id.slice(1)))
addInvalid('bad author: short key', null, null, withAuthor('@' + Buffer.alloc(31, 1).toString('base64') + '.ed25519'))
addInvalid('bad author: other curve', null, null, withAuthor(ik.id.replace('.ed25519', '.ed448')))
addInvalid('bad author: a number', null, null, withAuthor(12345))
addInvalid('bad author: message id', null, null, withAuthor(s1.id))
// signature format
{
  const m = clone(a1)
  m.signature = m.signature.replace('.sig.ed25519', '.sig.blake2b')
  addInvalid('signature curve mismatch', null, null, m)
  const n = clone(a1)
  n.signature = n.signature.replace('.sig.ed25519', '')
  addInvalid('signature without suffix', null, null, n)
  const c = clone(a1)
  // 64 bytes = 88 chars ending in '=='; the char before '==' carries 4
  // unused bits: set one of them (non-canonical, same decoded bytes)
  const b64 = c.signature.slice(0, 88)
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const last = alpha.indexOf(b64[85])
  c.signature = b64.slice(0, 85) + alpha[last | 1] + '==' + '.sig.ed25519'
  if ((last | 1) === last) c.signature = b64.slice(0, 85) + alpha[last ^ 2] + '==' + '.sig.ed25519'
  addInvalid('signature non-canonical base64', null, null, c)
  const d = clone(a1)
  d.signature = b64.slice(0, 86) + '.sig.ed25519'
  addInvalid('signature base64 without padding', null, null, d)
  const e = clone(a1)
  e.signature = 12345
  addInvalid('signature a number', null, null, e)
  const f = clone(a1)
  f.signature = Buffer.alloc(63, 9).toString('base64') + '.sig.ed25519'
  addInvalid('signature 63 bytes', null, null, f)
}
// HMAC keys
{
  const key = hmacFor('net-0')
  const other = hmacFor('net-1')
  const m = mk(ik, key, { type: 'post', text: 'capped' }, null)
  addInvalid('wrong hmac key', null, other, m)
  addInvalid('hmac-signed message on the main network', null, null, m)
  addInvalid('main-network message under an hmac key', null, key, a1)
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  // 32 bytes: 43 base64 digits carry 258 bits, the last digit's 2 low bits
  // are unused; setting one gives the same bytes in non-canonical form
  const badKey = key.slice(0, 42) + alpha[alpha.indexOf(key[42]) | 1] + '='
  if (Buffer.from(badKey, 'base64').toString('base64') === badKey) throw new Error('hmac key still canonical')
  addInvalid('hmac key non-canonical base64', null, badKey, m)
  addInvalid('hmac key of 31 bytes', null, Buffer.alloc(31, 3).toString('base64'), m)
  addInvalid('hmac key of 33 bytes', null, Buffer.alloc(33, 3).toString('base64'), m)
  // a shape error wins over a bad key (checks happen before the key)
  addInvalid('bad hmac key and bad type', null, Buffer.alloc(31, 3).toString('base64'), withContent({ type: 'ab' }))
}
// Quirks of the reference, whichever way it decides them: loose equality
// on "previous" and "sequence" against the state, ssb-ref's feed-id regex
// (whose "." before the curve matches any character), the box regex
// (whose ".*" stops at line terminators).
{
  const qk = keysFor('quirks')
  const q1 = mk(qk, null, { type: 'post', text: 'quirk base' }, null)
  const qs = stateOf(q1)
  const b64 = qk.id.slice(1, 45)
  const quirk = (kind, st, obj) => {
    const msg = wireForm(signed(obj, qk))
    let v
    try {
      v = verdict(st, null, msg)
    } catch (e) {
      return // the reference throws instead of judging: no verdict to compare
    }
    if (v.valid) addValid('quirk: ' + kind, st, null, msg)
    else addInvalid('quirk: ' + kind, st, null, msg)
  }
  const next = (fields) => Object.assign({ previous: qs.id, sequence: 2, author: qk.id, timestamp: 2, hash: 'sha256', content: { type: 'post' } }, fields)
  const first = (fields) => Object.assign({ previous: null, sequence: 1, author: qk.id, timestamp: 2, hash: 'sha256', content: { type: 'post' } }, fields)
  quirk('previous as a one-element array', qs, next({ previous: [qs.id] }))
  quirk('previous as a nested array', qs, next({ previous: [[qs.id]] }))
  quirk('previous as an object', qs, next({ previous: { id: qs.id } }))
  quirk('previous as an array of two', qs, next({ previous: [qs.id, qs.id] }))
  quirk('previous false on a first message', null, first({ previous: false }))
  quirk('sequence true', null, first({ sequence: true }))
  quirk('sequence [2]', qs, next({ sequence: [2] }))
  quirk('sequence " 2 "', qs, next({ sequence: ' 2 ' }))
  quirk('sequence "0x2"', qs, next({ sequence: '0x2' }))
  quirk('sequence 2.0000000000000001', qs, next({ sequence: 2.0000000000000001 }))
  quirk('author with any character before ed25519', null, first({ author: '@' + b64 + 'Xed25519' }))
  quirk('author .sha256', null, first({ author: '@' + b64 + '.sha256' }))
  quirk('author with a trailing space', null, first({ author: qk.id + ' ' }))
  quirk('author non-canonical base64', null, first({ author: '@' + b64.slice(0, 42) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.indexOf(b64[42]) | 1] + '=.ed25519' }))
  for (const box of ['.box', 'aGVsbG8=.boxfoo', 'aGVsbG8=.box.box', 'AAAA.box\u0000', 'AAA=.box', 'AA==.box', 'aGVsbG8=.box\u00e9',
    'aGVsbG8=.box\n', 'aGVsbG8=.box\r', 'aGVsbG8=.box\u2028', 'aGVsbG8=.box\u2029', 'aGVsbG8=.box\u0085', 'aGVsbG8gd29ybGQ.box', 'AAAA.BOX',
    ' aGVs.box', '====.box', 'AB==.box', 'x.box', 'AAAA\n.box']) {
    quirk('content ' + JSON.stringify(box), null, first({ content: box }))
  }
  quirk('timestamp -0 on a first message', null, first({ timestamp: -0 }))
  quirk('timestamp NaN (null on the wire)', null, first({ timestamp: NaN }))
  quirk('timestamp Infinity (null on the wire) after seq 1', qs, next({ timestamp: Infinity }))
  quirk('hash "sha256 "', null, first({ hash: 'sha256 ' }))
  quirk('type with a lone surrogate pair (2 units)', null, first({ content: { type: '\ud800\udc00' } }))
  quirk('type of three lone surrogates', null, first({ content: { type: '\ud800\ud800\ud800' } }))
  quirk('type of 52 units with a combining mark', null, first({ content: { type: 'e\u0301'.repeat(26) } }))
}
if (kinds.size < 20) throw new Error('only ' + kinds.size + ' invalid kinds')
fs.writeFileSync(path.join(outDir, 'valid-cases.jsonl'), validCases.map((c) => JSON.stringify(c)).join('\n') + '\n')
fs.writeFileSync(path.join(outDir, 'invalid.jsonl'), invalid.map((c) => JSON.stringify(c)).join('\n') + '\n')

// ------------------------------------------------ wire spellings

// Non-canonical spellings of valid messages: the reference reads them with
// JSON.parse, so the verdict and id are those of the parsed value.
function escapeAll (s) {
  // inside string literals, every non-ASCII character and a few ASCII
  // ones written as \uXXXX escapes (JSON.stringify output as input)
  let out = ''
  let inStr = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (!inStr) {
      if (c === '"') inStr = true
      out += c
    } else if (c === '\\') {
      out += c + s[++i]
    } else if (c === '"') {
      inStr = false
      out += c
    } else if (/[^\x20-\x7e]|[aeo/]/.test(c)) {
      out += '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')
    } else {
      out += c
    }
  }
  return out
}
const wireLines = []
const wireExpect = []
function addWire (text, state) {
  if (/[\n\r]/.test(text)) throw new Error('wire text must be one line')
  const msg = JSON.parse(text)
  const v = verdict(state, null, msg)
  wireLines.push(text)
  wireExpect.push(Object.assign({ state, hmacKey: null }, v))
}
{
  const wk = keysFor('wire')
  const w1 = validate.create(null, wk, null, { type: 'wire', text: 'héllo 漢字 😀 \u2028 \ud800 /', n: [1e21, 1e-7, 0.30000000000000004, 100, -0] }, 1700000000000)
  const ws = stateOf(w1)
  const canonical = JSON.stringify(w1)
  addWire(canonical, null)
  // each message at seq 1 may be spelled any way: same id
  addWire(escapeAll(canonical), null)
  addWire(canonical.replace(/,/g, ' ,\t').replace(/:/g, ' : '), null)
  addWire(canonical.replace('1e+21', '1E21').replace('1e-7', '0.0000001').replace('100', '1.00e2').replace('[1', '[1.000'), null)
  addWire(canonical.replace('"n":[', '"n":[').replace('-0]', '-0.0e0]'), null)
  addWire(canonical.replace('"text"', '"text":"first, overwritten","text"'), null)
  // a duplicate key written after the signature: JSON.parse keeps the last
  // value at the first position, so this spelling verifies too
  addWire(canonical.replace('"type":"wire"', '"type":"gone","type":"wire"'), null)
  // and a duplicate that changes the signed value does not
  addWire(canonical.replace('"type":"wire"', '"type":"wire","type":"evil"'), null)
  const w2 = validate.create(createState(ws), wk, null, { type: 'wire', big: 9007199254740993, tiny: 5e-324, s: '\u0000\u001f"\\' }, 1700000000001)
  const c2 = JSON.stringify(w2)
  addWire(c2, ws)
  addWire(c2.replace('9007199254740992', '9007199254740993'), ws)
  addWire(c2.replace('9007199254740992', '9007199254740992.4'), ws)
  addWire(c2.replace('5e-324', '4.9406564584124654e-324'), ws)
  addWire(escapeAll(c2), ws)
}
// Re-spellings of generated feed messages: a JSON writer that picks, per
// token, another text JSON.parse reads as the same value -- \u escapes
// (also of ASCII and in keys), numbers as toExponential / toPrecision(17) /
// with ".0" / upper-case "E" / "-0.0", random whitespace.  Each must keep
// its verdict and id.
function respell (v) {
  const ws = () => pick(['', '', ' ', '\t', ' \t ', '  '])
  const str = (s) => {
    let out = '"'
    for (const c of s) {
      for (let i = 0; i < c.length; i++) {
        const u = c.charCodeAt(i)
        const lit = JSON.stringify(c[i]).slice(1, -1)
        if (u === 0x22 || u === 0x5c || u < 0x20 || (u >= 0xd800 && u <= 0xdfff) || rnd() < 0.3) {
          out += rnd() < 0.5 && lit.length === 2 ? lit : '\\u' + u.toString(16).padStart(4, '0')[rnd() < 0.5 ? 'toUpperCase' : 'toLowerCase']()
        } else {
          out += c[i]
        }
      }
    }
    return out + '"'
  }
  const num = (x) => {
    if (Object.is(x, -0)) return pick(['-0', '-0.0', '-0e0', '-0.000E+5'])
    const cands = [String(x), x.toExponential(), x.toPrecision(17), x.toExponential().toUpperCase(), x.toPrecision(30), x.toPrecision(21)]
    if (Number.isInteger(x) && Math.abs(x) < 1e21) cands.push(String(x) + '.0', String(x) + '.000e0')
    const c = pick(cands)
    if (Number(c) !== x) throw new Error('respell: ' + c + ' is not ' + x)
    return c
  }
  const w = (v) => {
    if (v === null) return 'null'
    if (typeof v === 'boolean') return String(v)
    if (typeof v === 'number') return num(v)
    if (typeof v === 'string') return str(v)
    if (Array.isArray(v)) return '[' + ws() + v.map((x) => w(x)).join(ws() + ',' + ws()) + ws() + ']'
    return '{' + ws() + Object.keys(v).map((k) => str(k) + ws() + ':' + ws() + w(v[k])).join(ws() + ',' + ws()) + ws() + '}'
  }
  return ws() + w(v) + ws()
}
for (const feed of feeds.slice(0, 4).concat(numFeeds)) {
  for (let i = 0; i < 50; i++) {
    const e = feed.msgs[i]
    const state = i === 0 ? null : { id: feed.msgs[i - 1].key, sequence: i }
    const text = respell(JSON.parse(JSON.stringify(e.value)))
    addWire(text, state)
    const last = wireExpect[wireExpect.length - 1]
    if (!last.valid || last.id !== e.key) throw new Error('respelling changed the message')
  }
}

fs.writeFileSync(path.join(outDir, 'wire.txt'), wireLines.join('\n') + '\n')
fs.writeFileSync(path.join(outDir, 'wire-expect.jsonl'), wireExpect.map((c) => JSON.stringify(c)).join('\n') + '\n')

// ------------------------------------------------ CLI import file

// Lines of {"key","value"}, and the report `tide import` must print.  The
// verdict of every line is ssb-validate's (checkInvalid against the feed's
// latest accepted message, in file order), with tide's two documented
// import policies (docs/cli.md, tide/ingest.h) applied on top:
//   - a line whose id is already stored counts as "already had";
//   - a message whose sequence is beyond latest+1 is held until its
//     predecessors arrive later in the file (then judged as above); still
//     held at the end, it is rejected with a reason starting "gap: "
//     (the reference rejects it too: 'expected sequence ...');
//   - a different message at a stored sequence that is valid on its own
//     predecessor is a fork: rejected with a reason starting "fork"
//     (the reference rejects it too) and the feed frozen; the file has no
//     later line of a forked feed.
const isFeedId = require('ssb-ref').isFeedId

// The model runs many times over growing files: memoise the reference's
// answers per (state, message) and ids per message.
const memoCheck = new Map()
const memoId = new Map()
const checkMemo = (state, value) => {
  const k = JSON.stringify(state) + '\u0001' + JSON.stringify(value)
  if (!memoCheck.has(k)) memoCheck.set(k, validate.checkInvalid(state, null, value))
  return memoCheck.get(k)
}
const idMemo = (value) => {
  const k = JSON.stringify(value)
  if (!memoId.has(k)) memoId.set(k, validate.id(value))
  return memoId.get(k)
}

// Runs the import model over lines; returns the report and, per line, its
// outcome ('accepted', 'already', 'rejected', 'fork', 'held' or 'gap').
function importModel (lines) {
  const stored = new Set()
  const idAt = {} // author -> [id of seq 1, id of seq 2, ...]
  const state = {}
  const held = {} // author -> Map(seq -> {n, value, id})
  const rejects = []
  const outcome = []
  const report = { accepted: 0, already_had: 0, rejected: 0 }
  const judge = (n, value, id) => {
    const err = checkMemo(state[value.author] || null, value)
    if (err) {
      report.rejected++
      rejects.push({ line: n, reason: err.message })
      outcome[n - 1] = 'rejected'
      return
    }
    report.accepted++
    outcome[n - 1] = 'accepted'
    stored.add(id)
    state[value.author] = { id, sequence: value.sequence }
    ;(idAt[value.author] = idAt[value.author] || []).push(id)
    const h = held[value.author]
    const next = h && h.get(value.sequence + 1)
    if (next) {
      h.delete(value.sequence + 1)
      judge(next.n, next.value, next.id)
    }
  }
  lines.forEach((line, i) => {
    const n = i + 1
    const parsed = JSON.parse(line)
    const value = 'previous' in parsed ? parsed : parsed.value
    const id = idMemo(value)
    if (stored.has(id)) {
      report.already_had++
      outcome[i] = 'already'
      return
    }
    const author = value.author
    const seq = value.sequence
    const latest = state[author] ? state[author].sequence : 0
    if (isFeedId(author) && Number.isSafeInteger(seq) && seq > latest + 1) {
      held[author] = held[author] || new Map()
      if (held[author].has(seq)) {
        outcome[i] = 'held twice'
        return
      }
      held[author].set(seq, { n, value, id })
      outcome[i] = 'held'
      return
    }
    if (isFeedId(author) && Number.isSafeInteger(seq) && seq >= 1 && seq <= latest) {
      const prev = seq === 1 ? null : { id: idAt[author][seq - 2], sequence: seq - 1 }
      if (!checkMemo(prev, value)) {
        report.rejected++
        outcome[i] = 'fork'
        rejects.push({ line: n, reason_prefix: 'fork', reference: checkMemo(state[author], value).message })
        return
      }
    }
    judge(n, value, id)
  })
  for (const author of Object.keys(held)) {
    for (const h of held[author].values()) {
      report.rejected++
      outcome[h.n - 1] = 'gap'
      rejects.push({ line: h.n, reason_prefix: 'gap: ', reference: checkMemo(state[author] || null, h.value).message })
    }
  }
  rejects.sort((x, y) => x.line - y.line)
  report.rejects = rejects
  return { report, outcome }
}

{
  const lines = []
  const line = (msg) => JSON.stringify({ key: validate.id(msg), value: msg })
  // three feeds of valid.jsonl, interleaved, with duplicates; feed 1 lacks
  // its message 6 until later (7..12 wait for it); feed 2 lacks 5 for good
  for (let i = 0; i < 12; i++) {
    for (let f = 0; f < 3; f++) {
      const e = feeds[f].msgs[i]
      if (f === 1 && i === 5) continue
      if (f === 2 && (i === 4 || i > 6)) continue
      lines.push(JSON.stringify(e))
      if (i % 4 === 2 && i < 4) lines.push(JSON.stringify(e)) // duplicate, right away
    }
  }
  lines.push(line(feeds[0].msgs[0].value)) // old duplicates
  lines.push(line(feeds[2].msgs[3].value))
  // every invalid case the reference judged without an HMAC key: first
  // those judged on a new feed, then (after its message 1) those judged on
  // message 1, then (after message 2) those on message 2; a case goes in
  // when, in this file, it is rejected outright or waits for a gap nothing
  // else waits for (so the feed never forks)
  const groups = [[null, null], [s1.id, a1], [s2.id, a2]]
  for (const [sid, before] of groups) {
    if (before) lines.push(line(before))
    for (const c of invalid) {
      if (c.hmacKey !== null || !c.message || typeof c.message !== 'object') continue
      if ((c.state === null ? null : c.state.id) !== sid) continue
      // a message that is a valid successor of its own "previous" could be
      // released from waiting mid-file, and when an import retries waiting
      // messages is tide's choice, not the reference's: leave those out
      const m = c.message
      if (typeof m.previous === 'string' && Number.isSafeInteger(m.sequence) &&
          !validate.checkInvalid({ id: m.previous, sequence: m.sequence - 1 }, null, m)) continue
      const cand = lines.concat([line(c.message)])
      const o = importModel(cand).outcome[cand.length - 1]
      if (o === 'rejected' || o === 'gap') lines.push(cand[cand.length - 1])
    }
  }
  // the missing message of feed 1 arrives
  lines.push(JSON.stringify(feeds[1].msgs[5]))
  // a fork of feed 0 at sequence 5, valid on message 4: the feed's last line
  const f0 = feeds[0]
  lines.push(line(validate.create(createState({ id: f0.msgs[3].key, sequence: 4 }), f0.keys, null, { type: 'fork', n: 5 }, 1)))
  fs.writeFileSync(path.join(outDir, 'import.jsonl'), lines.join('\n') + '\n')
  const { report, outcome } = importModel(lines)
  if (outcome.some((o) => o === 'held twice' || o === 'held')) throw new Error('import model: a line waits twice')
  fs.writeFileSync(path.join(outDir, 'import-expect.json'), JSON.stringify(report, null, 2) + '\n')
}

// The wire spellings as an import file (raw message values, one per line):
// same model, same report format.
{
  fs.writeFileSync(path.join(outDir, 'import-wire.jsonl'), wireLines.join('\n') + '\n')
  const { report } = importModel(wireLines)
  fs.writeFileSync(path.join(outDir, 'import-wire-expect.json'), JSON.stringify(report, null, 2) + '\n')
}

const summary = {
  valid_messages: validLines.length,
  valid_feeds: N_FEEDS + numFeeds.length,
  valid_cases: validCases.length,
  invalid_cases: invalid.length,
  invalid_kinds: kinds.size,
  wire_cases: wireLines.length
}
fs.writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n')
console.log(JSON.stringify(summary))
