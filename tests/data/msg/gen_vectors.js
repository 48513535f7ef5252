// gen_vectors.js - writes tests/unit/msg_vectors.h: messages built by
// mutating valid ones, signed with a test key by ssb-keys@8.5.0, and the
// verdict of ssb-validate@4.1.4 checkInvalid() for each (reason text and
// fatal flag, or the text of the exception it throws).
//
// Run from the repository root after `npm install` in tests/js:
//   node tests/data/msg/gen_vectors.js > tests/unit/msg_vectors.h
// It also writes the long texts to tests/data/msg/vec_*.json and every
// vector to tests/fuzz/corpus/msg/ (seeds of fuzz_msg).
// The state passed to checkInvalid is {id, sequence} (that key order), the
// shape tide_msg_validate() prints in its "expected sequence" reason.
'use strict'
const path = require('path')
const NM = path.join(__dirname, '../../js/node_modules/')
const V = require(NM + 'ssb-validate')
const K = require(NM + 'ssb-keys')

const keys = K.generate('ed25519', Buffer.alloc(32, 1)) // seed 32 x 0x01
const other = '%AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.sha256'
const hmac = Buffer.alloc(32, 7).toString('base64')

const m1 = V.create(null, keys, null, { type: 'post', text: 'hello' }, 1700000000000)
const s1 = { id: V.id(m1), sequence: 1 }
const m2 = V.create({ id: s1.id, sequence: 1, queue: [] }, keys, null, { type: 'post', text: 'two' }, 1700000001000)

const unsigned = (m) => { const o = Object.assign({}, m); delete o.signature; return o }
// re-sign an edited copy (keys stay in the edited order)
function resign (m, edit, hk) {
  const o = unsigned(m); edit(o)
  return K.signObj(keys, hk || null, o)
}
// edit after signing (signature kept)
function tamper (m, edit) { const o = Object.assign({}, m); edit(o); return o }
function reorder (o, order) { const r = {}; for (const k of order) if (k in o) r[k] = o[k]; return r }

const cases = []
function add (name, state, msg, hk, raw) {
  const text = raw !== undefined ? raw : JSON.stringify(msg)
  const value = JSON.parse(text)
  let valid = false; let reason = ''; let fatal = false
  try {
    const e = V.checkInvalid(state, hk || null, value)
    if (!e) valid = true
    else { reason = e.message; fatal = !!e.fatal }
  } catch (e) {
    reason = e.constructor.name === 'TypeError' ? 'TypeError: ' + e.message : e.message
  }
  // the id of every object message, valid or not (tide computes it too)
  const id = value !== null && typeof value === 'object' && !Array.isArray(value) ? V.id(value) : ''
  // tide_error keeps 511 bytes; longer reasons are compared by prefix
  if (reason.length > 1000) reason = reason.slice(0, 1000)
  cases.push({ name, state, text, hk: !!hk, valid, reason, fatal, id })
}

add('m1 valid', null, m1)
add('m2 valid', s1, m2)
add('m2 without state', null, m2)
add('m1 with state', s1, m1)
add('no author', null, resign(m1, (o) => { delete o.author }))
add('author not canonical', null, resign(m1, (o) => { o.author = o.author.replace('b1w=', 'b1x=') }))
add('author dot is any char', null, resign(m1, (o) => { o.author = o.author.replace('=.ed', '=xed') }))
add('author non-ascii dot', null, resign(m1, (o) => { o.author = o.author.replace('=.ed', '=\u00e9ed') }))
add('author sha256 curve', null, tamper(resign(m1, (o) => { o.author = o.author.replace('.ed25519', '.sha256') }),
  (o) => { o.signature = o.signature.replace('.sig.ed25519', '.sig.sha256') }))
add('signature wrong suffix', null, tamper(m1, (o) => { o.signature = o.signature.replace('ed25519', 'ed25518') }))
add('signature not canonical', null, tamper(m1, (o) => { o.signature = o.signature.replace('BA==.sig', 'BB==.sig') }))
add('signature a number', null, tamper(m1, (o) => { o.signature = 12 }))
add('signature missing', null, unsigned(m1))
add('signature object with toString', null, tamper(m1, (o) => { o.signature = { toString: 1 } }))
add('signature array', null, tamper(m1, (o) => { o.signature = [o.signature] }))
add('signature 65 bytes', null, tamper(m1, (o) => { o.signature = Buffer.alloc(65, 3).toString('base64') + '.sig.ed25519' }))
add('signature 66 bytes', null, tamper(m1, (o) => { o.signature = Buffer.alloc(66, 3).toString('base64') + '.sig.ed25519' }))
add('content changed after signing', null, tamper(m1, (o) => { o.content = { type: 'post', text: 'hellO' } }))
add('sequence ahead of state', s1, resign(m2, (o) => { o.sequence = 3 }))
add('sequence string equal to state+1', s1, resign(m2, (o) => { o.sequence = '2' }))
add('sequence padded hex string', s1, resign(m2, (o) => { o.sequence = ' 0x2\n' }))
add('sequence array', s1, resign(m2, (o) => { o.sequence = [[2]] }))
add('sequence true', { id: s1.id, sequence: 0 }, resign(m2, (o) => { o.sequence = true }))
add('sequence null', s1, resign(m2, (o) => { o.sequence = null }))
add('sequence object', s1, resign(m2, (o) => { o.sequence = { a: 1 } }))
add('sequence object with toString', s1, resign(m2, (o) => { o.sequence = { toString: 2 } }))
add('sequence 2.5', s1, resign(m2, (o) => { o.sequence = 2.5 }))
add('sequence beyond int32', { id: s1.id, sequence: 2147483647 }, resign(m2, (o) => { o.sequence = 2147483648 }))
add('sequence int32 max', { id: s1.id, sequence: 2147483646 }, resign(m2, (o) => { o.sequence = 2147483647 }))
add('previous wrong', s1, resign(m2, (o) => { o.previous = other }))
add('previous null with state', s1, resign(m2, (o) => { o.previous = null }))
add('previous in an array', s1, resign(m2, (o) => { o.previous = [o.previous] }))
add('previous object with toString', s1, resign(m2, (o) => { o.previous = { toString: 'x' } }))
add('first previous not null', null, resign(m1, (o) => { o.previous = other }))
add('first previous missing', null, resign(m1, (o) => { delete o.previous }))
add('first sequence 2', null, resign(m1, (o) => { o.sequence = 2 }))
add('first sequence "1"', null, resign(m1, (o) => { o.sequence = '1' }))
add('first timestamp string', null, resign(m1, (o) => { o.timestamp = 'x' }))
add('first timestamp float', null, resign(m1, (o) => { o.timestamp = 1700000000000.5 }))
add('later timestamp string', s1, resign(m2, (o) => { o.timestamp = 'x' }))
add('later timestamp missing', s1, resign(m2, (o) => { delete o.timestamp }))
add('author first order', null, K.signObj(keys, null, reorder(unsigned(m1),
  ['previous', 'author', 'sequence', 'timestamp', 'hash', 'content'])))
add('timestamp before sequence', null, K.signObj(keys, null, reorder(unsigned(m1),
  ['previous', 'author', 'timestamp', 'sequence', 'hash', 'content'])))
add('extra key', null, resign(m1, (o) => { o.extra = 1 }))
add('index key first', null, resign(m1, (o) => { o['0'] = 1 }))
add('hash sha512', null, resign(m1, (o) => { o.hash = 'sha512' }))
add('content null', null, resign(m1, (o) => { o.content = null }))
add('content plain string', null, resign(m1, (o) => { o.content = 'hello' }))
add('content empty box', null, resign(m1, (o) => { o.content = '.box' }))
add('content box2 suffix', null, resign(m1, (o) => { o.content = 'AAAA.box2xyz' }))
add('content box bad padding', null, resign(m1, (o) => { o.content = 'AB==.box' }))
add('content box newline', null, resign(m1, (o) => { o.content = 'AAAA.box\n' }))
add('content box u2028', null, resign(m1, (o) => { o.content = 'AAAA.box\u2028' }))
add('content array', null, resign(m1, (o) => { o.content = [1, 2] }))
add('type too short', null, resign(m1, (o) => { o.content = { type: 'ab' } }))
add('type missing', null, resign(m1, (o) => { o.content = { text: 'x' } }))
add('type empty', null, resign(m1, (o) => { o.content = { type: '' } }))
add('type 52 units', null, resign(m1, (o) => { o.content = { type: 'x'.repeat(52) } }))
add('type 53 units', null, resign(m1, (o) => { o.content = { type: 'x'.repeat(53) } }))
add('type 3 astral units', null, resign(m1, (o) => { o.content = { type: '\ud83d\ude00z' } }))
add('type number', null, resign(m1, (o) => { o.content = { type: 1e21 } }))
add('type nested array', null, resign(m1, (o) => { o.content = { type: [1, [2, null], 'a', { b: 1 }] } }))
add('type object with toString', null, resign(m1, (o) => { o.content = { type: { toString: 1 } } }))
function sized (units) {
  const probe = resign(m1, (o) => { o.content = { type: 'post', text: '' } })
  const base = JSON.stringify(probe, null, 2).length
  return resign(m1, (o) => { o.content = { type: 'post', text: 'x'.repeat(units - base) } })
}
add('size 8192 ok', null, sized(8192))
add('size 8193', null, sized(8193))
add('size over 8192', null, resign(m1, (o) => { o.content = { type: 'post', text: 'x'.repeat(9000) } }))
add('size euro 7333 units', null, resign(m1, (o) => { o.content = { type: 'post', text: '\u20ac'.repeat(7000) } }))
add('hmac valid', null, resign(m1, (o) => { o.content = { type: 'test' } }, hmac), hmac)
add('hmac signed, checked without', null, resign(m1, (o) => { o.content = { type: 'test' } }, hmac))
add('root array', null, null, null, '[1]')
add('root null', null, null, null, 'null')
add('root string', null, null, null, '"@x"')
add('duplicate content key', null, null, null,
  JSON.stringify(m1).replace('"hash"', '"content":7,"hash"'))

// JavaScript's ToNumber(string) in `sequence != state.sequence + 1`: the
// strings equal to 2 reach the shape check, the others fail step 3.
for (const seq of ['\t2\n', '2 ', '0X2', '0x', '0b2', '0b10', '0o2', '1e', '.', '+.2e1', '-2', '00002', '2.',
  'Infinity', '\u20282\u2029', '\u180e2', '\u30002', '', ' ']) {
  add('sequence string ' + JSON.stringify(seq), s1, resign(m2, (o) => { o.sequence = seq }))
}
add('sequence empty string, state 0', { id: s1.id, sequence: -1 }, resign(m2, (o) => { o.sequence = '' }))
add('previous nested null', s1, resign(m2, (o) => { o.previous = [null, o.previous] }))
add('previous nested array', s1, resign(m2, (o) => { o.previous = [[o.previous]] }))
add('signature nested toString', null, tamper(m1, (o) => { o.signature = [[{ toString: 1 }]] }))
add('signature nested plain object', null, tamper(m1, (o) => { o.signature = [[{ a: 1 }]] }))
for (const [label, ch] of [['u2028', '\u2028'], ['nul', '\u0000'], ['lone surrogate', '\ud800'], ['astral', '\ud83d\ude00'], ['newline', '\n']]) {
  add('author dot ' + label, null, resign(m1, (o) => { o.author = o.author.replace('=.ed', '=' + ch + 'ed') }))
}
add('type lone surrogates', null, resign(m1, (o) => { o.content = { type: '\ud800\udbff\udc00' } }))
add('content box carriage return', null, resign(m1, (o) => { o.content = 'AAAA.box\r' }))
add('content box non-ascii tail', null, resign(m1, (o) => { o.content = 'AAAA.box\u00e9\ud83d\ude00' }))
add('content box 1 byte', null, resign(m1, (o) => { o.content = 'AQ==.box' }))
add('content box no dot', null, resign(m1, (o) => { o.content = 'AAAAbox' }))
add('timestamp 1e400 (Infinity)', null, null, null,
  JSON.stringify(resign(m1, (o) => { o.timestamp = null })).replace('"timestamp":null', '"timestamp":1e400'))

// Deep nesting: the canonical text of 3000 levels is 18 MB (tide computes
// its length without writing it).
{
  const deep = (d) => { let v = 0; for (let i = 0; i < d; i++) v = [v]; return v }
  add('nested 100 deep', null, resign(m1, (o) => { o.content = { type: 'post', d: deep(100) } }))
  add('nested 3000 deep', null, resign(m1, (o) => { o.content = { type: 'post', d: deep(3000) } }))
  add('nested 3000 deep, bad hash', null, resign(m1, (o) => { o.hash = 'x'; o.content = { type: 'post', d: deep(3000) } }))
}

// ssb-keys@8.5.0 test/weird.js: a real message with U+2019, whose id
// differs between latin1 (the reference) and UTF-8 hashing.
{
  const src = require('fs').readFileSync(NM + 'ssb-keys/test/weird.js', 'utf8')
  const body = src.slice(src.indexOf('var msg = ') + 10, src.indexOf('};') + 1)
  const weird = Function('return (' + body + ')')()
  const expected = /var expected = "([^"]+)"/.exec(src)[1]
  if ('%' + expected !== V.id(weird)) throw new Error('weird.js id mismatch')
  add('ssb-keys weird.js', { id: weird.previous, sequence: weird.sequence - 1 }, weird)
}
// Protocol Guide (ssbc/scuttlebutt-protocol-guide, createHistoryStream
// example; the HTML wraps the signatures, joined here).
{
  const pg1 = { previous: null, author: '@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519', sequence: 1, timestamp: 1514517067954, hash: 'sha256', content: { type: 'post', text: 'This is the first post!' }, signature: 'QYOR/zU9dxE1aKBaxc3C0DJ4gRyZtlMfPLt+CGJcY73sv5abKK' + 'Kxr1SqhOvnm8TY784VHE8kZHCD8RdzFl1tBA==.sig.ed25519' }
  const pg2 = { previous: '%XphMUkWQtomKjXQvFGfsGYpt69sgEY7Y4Vou9cEuJho=.sha256', author: '@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519', sequence: 2, timestamp: 1514517078157, hash: 'sha256', content: { type: 'post', text: 'Second post!' }, signature: 'z7W1ERg9UYZjNfE72ZwEuJF79khG+eOHWFp6iF+KLuSrw8Lqa6' + 'IousK4cCn9T5qFa8E14GVek4cAMmMbjqDnAg==.sig.ed25519' }
  add('protocol guide 1', null, pg1)
  add('protocol guide 2', { id: V.id(pg1), sequence: 1 }, pg2)
}

// The size vector must sit exactly at the limit: fix it up and check.
for (const c of cases) {
  if (c.name === 'size 8192 ok') {
    const n = JSON.stringify(JSON.parse(c.text), null, 2).length
    if (n !== 8192) throw new Error('size vector is ' + n + ' units, adjust it')
  }
}

function cstr (s) {
  const b = Buffer.from(s, 'utf8'); let out = '"'; let col = 0
  for (const c of b) {
    let e
    if (c === 0x22) e = '\\"'
    else if (c === 0x5c) e = '\\\\'
    else if (c === 0x0a) e = '\\n'
    else if (c < 0x20 || c >= 0x7f) e = '\\' + c.toString(8).padStart(3, '0')
    else if (c === 0x3f) e = '\\?' // no trigraphs
    else e = String.fromCharCode(c)
    out += e; col += e.length
    if (col > 90) { out += '"\n    "'; col = 0 }
  }
  return out + '"'
}

// Texts too long for a C string literal go to files beside this script.
const fs = require('fs')
function fileFor (c) {
  if (Buffer.byteLength(c.text) < 4000) return ''
  const name = 'vec_' + c.name.replace(/[^a-z0-9]+/gi, '_') + '.json'
  fs.writeFileSync(path.join(__dirname, name), c.text)
  return 'tests/data/msg/' + name
}

const lines = []
lines.push('/* msg_vectors.h - generated by tests/data/msg/gen_vectors.js from')
lines.push(' * ssb-validate@4.1.4 checkInvalid() and ssb-keys@8.5.0 (seed 32 x 0x01,')
lines.push(' * id @iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=.ed25519).  Do not edit.')
lines.push(' * reason: the Error message ssb-validate returned, or the text of the')
lines.push(' * exception it threw ("TypeError: ..." for TypeErrors). */')
lines.push('')
lines.push('typedef struct msg_vector {')
lines.push('  const char *name;')
lines.push('  int has_state;')
lines.push('  const char *state_id;')
lines.push('  double state_seq;')
lines.push('  int hmac;')
lines.push('  const char *text; /* NULL: read the file */')
lines.push('  const char *file; /* relative to the source tree */')
lines.push('  int valid;')
lines.push('  const char *reason;')
lines.push('  int fatal;')
lines.push('  const char *id;')
lines.push('} msg_vector;')
lines.push('')
lines.push('static const msg_vector msg_vectors[] = {')
for (const c of cases) {
  lines.push('  {' + cstr(c.name) + ', ' + (c.state ? 1 : 0) + ', ' + cstr(c.state ? c.state.id : '') + ', ' +
    (c.state ? c.state.sequence : 0) + ', ' + (c.hk ? 1 : 0) + ',')
  const file = fileFor(c)
  lines.push('   ' + (file ? 'NULL' : cstr(c.text)) + ', ' + (file ? cstr(file) : 'NULL') + ',')
  lines.push('   ' + (c.valid ? 1 : 0) + ', ' + cstr(c.reason) + ', ' + (c.fatal ? 1 : 0) + ', ' + cstr(c.id) + '},')
}
lines.push('};')
process.stdout.write(lines.join('\n') + '\n')

// Every vector is also a seed of the message fuzz target.
const corpus = path.join(__dirname, '../../fuzz/corpus/msg')
fs.mkdirSync(corpus, { recursive: true })
for (const c of cases) {
  fs.writeFileSync(path.join(corpus, 'vec_' + c.name.replace(/[^a-z0-9]+/gi, '_') + '.json'), c.text)
}
