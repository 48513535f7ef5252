// mutate.js - differential test of tide's message validation against
// ssb-validate@4.1.4 on randomly mutated messages.
//
// Usage: node mutate.js MSGCHECK [SEED] [COUNT]
// Builds COUNT messages from two valid ones (seed 32 x 0x01 key) by
// replacing, deleting or reordering members with values chosen to hit
// JavaScript's loose semantics (numeric strings, arrays, objects with own
// toString, non-canonical ids, .box strings, ...), signs most of them
// (some with the HMAC key 32 x 0x07), picks a state, and compares
// ssb-validate's checkInvalid() verdict, reason, fatal flag and id with
// tide's (MSGCHECK, tests/data/msg/msgcheck.c).  Reasons longer than
// tide_error holds compare by prefix.  Exit 1 on any mismatch.
'use strict'
const path = require('path')
const { execFileSync } = require('child_process')
const NM = path.join(process.env.TIDE_JS_DIR || path.join(__dirname, '../../js'), 'node_modules') + '/'
const V = require(NM + 'ssb-validate')
const K = require(NM + 'ssb-keys')

const checker = process.argv[2]
let seed = +(process.argv[3] || 1)
const count = +(process.argv[4] || 3000)
function rnd (n) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return (seed >>> 12) % n }

const keys = K.generate('ed25519', Buffer.alloc(32, 1))
const hmac = Buffer.alloc(32, 7).toString('base64')
const m1 = V.create(null, keys, null, { type: 'post', text: 'hello' }, 1700000000000)
const s1 = { id: V.id(m1), sequence: 1 }
const m2 = V.create({ id: s1.id, sequence: 1, queue: [] }, keys, null, { type: 'post', text: 'two \u00e9' }, 1700000001000)
const author = m1.author
const values = [null, true, false, 0, -0, 1, 2, 3, 2.5, -1, 2147483647, 2147483648, 1e21, 1e-7,
  '', '2', ' 2 ', '0x2', '0b10', '0o2', '2e0', '.2e1', '+2', '-2', 'Infinity', '\u00a02\ufeff', '1_0', 'x', 'sha256', 'post',
  [], [2], [[2]], ['2'], [null], [1, 2], {}, { toString: 1 }, { valueOf: 1 }, { type: 'post' }, { type: 'ab' },
  { type: 'x'.repeat(52) }, { type: 'x'.repeat(53) }, { type: ['abc'] }, { type: { toString: 1 } }, { type: null },
  { type: '\ud83d\ude00z' }, '.box', 'AAAA.box', 'AB==.box', 'AAAA.box\n', 'AAA=.box2', 'AQ==.boxed',
  author, author.replace('=.ed', '=\u00e9ed'), author.replace('.ed25519', '.sha256'), author.replace('b1w=', 'b1x='),
  s1.id, [s1.id], [[s1.id]], '%AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.sha256',
  m1.signature, m1.signature.replace('ed25519', 'sha256'), Buffer.alloc(66, 1).toString('base64') + '.sig.ed25519',
  [m1.signature]]
const fields = ['previous', 'sequence', 'author', 'timestamp', 'hash', 'content', 'signature', 'extra', '0', 'toString']

const cases = []
while (cases.length < count) {
  const base = rnd(2) ? m1 : m2
  let o = Object.assign({}, base)
  delete o.signature
  for (let j = 1 + rnd(3); j > 0; j--) {
    const f = fields[rnd(fields.length)]
    if (rnd(10) === 0) delete o[f]
    else o[f] = values[rnd(values.length)]
  }
  if (rnd(5) === 0) { // swap two keys
    const ks = Object.keys(o); const a = rnd(ks.length); const b = rnd(ks.length)
    const t = ks[a]; ks[a] = ks[b]; ks[b] = t
    const p = {}; for (const k of ks) p[k] = o[k]
    o = p
  }
  const hk = rnd(4) === 0 ? hmac : null
  let msg = o // unsigned (or keeps a mutated "signature")
  if (rnd(6) > 1) { try { msg = K.signObj(keys, hk, o) } catch (e) { continue } }
  const state = rnd(3) === 0 ? null : (rnd(4) === 0 ? { id: s1.id, sequence: rnd(4) } : s1)
  const text = JSON.stringify(msg)
  let want
  try {
    const e = V.checkInvalid(state, hk, JSON.parse(text))
    want = e ? 'INVALID ' + (e.fatal ? 1 : 0) + ' ' + JSON.stringify(e.message) : 'VALID ' + V.id(JSON.parse(text))
  } catch (e) {
    want = 'INVALID 0 ' + JSON.stringify((e instanceof TypeError ? 'TypeError: ' : '') + e.message)
  }
  cases.push({ line: JSON.stringify([state ? state.id : null, state ? state.sequence : 0, !!hk, text]), want })
}

const got = execFileSync(checker, { input: cases.map((c) => c.line).join('\n') + '\n', maxBuffer: 1 << 28 })
  .toString().split('\n')
let bad = 0; let valid = 0
const reasons = new Set()
for (let i = 0; i < cases.length; i++) {
  const w = cases[i].want; const g = got[i] || ''
  if (w.startsWith('VALID')) valid++
  else reasons.add(JSON.parse(w.replace(/^INVALID \d /, '')).replace(/:.*$/s, ''))
  if (g === w) continue
  const gm = g.match(/^INVALID (\d) (.*)$/); const wm = w.match(/^INVALID (\d) (.*)$/)
  if (gm && wm && gm[1] === wm[1]) { // tide_error holds 511 bytes
    const gs = JSON.parse(gm[2]); const ws = JSON.parse(wm[2])
    if (Buffer.byteLength(ws) > 511 && Buffer.byteLength(gs) >= 505 && ws.startsWith(gs)) continue
  }
  if (bad++ < 10) console.log('MISMATCH ' + cases[i].line.slice(0, 300) + '\n  ssb-validate: ' + w.slice(0, 300) + '\n  tide:         ' + g.slice(0, 300))
}
console.log('mutate: ' + cases.length + ' messages, ' + valid + ' valid, ' + reasons.size + ' distinct reasons, ' + bad + ' mismatches')
process.exit(bad ? 1 : 0)
