#!/usr/bin/env node
// cli-conformance.js - the conformance vectors through the `tide` command.
//
//   node cli-conformance.js TIDE_BIN GEN_DIR WORK_DIR
//
// GEN_DIR holds the output of gen-conformance.js.  Checks, each in fresh
// homes under WORK_DIR:
//   1. `tide init`; `tide import valid.jsonl`: all accepted, exit 0;
//   2. `tide export`: for every feed, the same lines (key and compact
//      value, byte for byte) in the same order as in valid.jsonl, and the
//      export passes ssb-validate (chained per feed, ids equal);
//   3. importing valid.jsonl again: everything "already had", exit 0;
//   4. `tide import import.jsonl` and `import-wire.jsonl` (valid lines,
//      duplicates, gaps, a fork, invalid messages; raw non-canonical
//      spellings): exit 1, the counts and, per rejected line, its number
//      and reason as in import-expect.json (the reference's reasons; "gap: "
//      and "fork" prefixes where tide's documented import policy applies);
//   5. `tide publish` of tricky contents, exported and checked by
//      ssb-validate (ids, chain, canonical text); contents the reference
//      refuses are refused (non-zero exit, nothing stored).
// Exit 0 when all pass, 1 otherwise.
'use strict'
const fs = require('fs')
const path = require('path')
const { spawnSync } = require('child_process')
const validate = require('ssb-validate')

const [tide, gen, work] = process.argv.slice(2)
if (!work) {
  console.error('usage: cli-conformance.js TIDE_BIN GEN_DIR WORK_DIR')
  process.exit(2)
}
fs.rmSync(work, { recursive: true, force: true })
fs.mkdirSync(work, { recursive: true })

let failures = 0
function fail (what) {
  failures++
  console.error('FAIL: ' + what)
}
function run (home, args, input) {
  const r = spawnSync(tide, ['--home', home].concat(args), {
    input,
    maxBuffer: 256 << 20,
    encoding: 'utf8',
    timeout: 50000
  })
  if (r.error) throw r.error
  return r
}
const readLines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.length > 0)

// tide prints 'line N: REASON' per rejected line, then the counts.  A
// reason may contain newlines (ssb-validate quotes pretty JSON in some):
// lines that are neither a new 'line N:' entry nor a count continue the
// previous reason.
function parseReport (stdout) {
  const rep = { rejects: [] }
  let last = null
  for (const l of stdout.replace(/\n$/, '').split('\n')) {
    let m
    if ((m = /^line (\d+): ([\s\S]*)$/.exec(l))) {
      last = { line: Number(m[1]), reason: m[2] }
      rep.rejects.push(last)
    } else if ((m = /^accepted: (\d+)$/.exec(l))) {
      rep.accepted = Number(m[1])
      last = null
    } else if ((m = /^already had: (\d+)$/.exec(l))) {
      rep.already_had = Number(m[1])
    } else if ((m = /^rejected: (\d+)$/.exec(l))) {
      rep.rejected = Number(m[1])
    } else if (last) {
      last.reason += '\n' + l
    }
  }
  return rep
}

// tide's reason equals the reference's, or, for a reference reason longer
// than tide's error buffer (TIDE_ERROR_MSG_BYTES = 512 with the NUL), is
// the longest prefix that fits (cut at most 3 bytes early on a UTF-8
// boundary) -- the same rule as tests/conformance/conform.c.  And
// `tide import` prints each reason on one line with control characters
// (< 0x20 and 0x7f) shown as '?' (cli/cmd_import.c): the reference reason
// is compared as is and after the same mapping.
function sameReason (want, got) {
  return sameText(want, got) || sameText(want.replace(/[\x00-\x1f\x7f]/g, '?'), got)
}
function sameText (want, got) {
  if (got === want) return true
  const w = Buffer.from(want)
  const g = Buffer.from(got)
  return w.length >= 511 && g.length + 4 >= 511 && g.length <= w.length && w.subarray(0, g.length).equals(g)
}

function checkImport (label, home, file, expectFile) {
  const exp = JSON.parse(fs.readFileSync(expectFile, 'utf8'))
  const r = run(home, ['import', file])
  if (r.status !== 1) fail(label + ': exit status ' + r.status + ', expected 1 (lines were rejected); stderr: ' + r.stderr.slice(0, 300))
  const got = parseReport(r.stdout)
  for (const k of ['accepted', 'already_had', 'rejected']) {
    if (got[k] !== exp[k]) fail(label + ': ' + k + ' ' + got[k] + ', expected ' + exp[k])
  }
  const byLine = new Map(got.rejects.map((x) => [x.line, x.reason]))
  for (const e of exp.rejects) {
    const reason = byLine.get(e.line)
    byLine.delete(e.line)
    if (reason === undefined) {
      fail(label + ': line ' + e.line + ' not reported as rejected (reference: ' + (e.reason || e.reference).slice(0, 200) + ')')
    } else if (e.reason !== undefined && !sameReason(e.reason, reason)) {
      fail(label + ': line ' + e.line + ' reason differs\n  reference: ' + e.reason.slice(0, 400) + '\n  tide:      ' + reason.slice(0, 400))
    } else if (e.reason_prefix !== undefined && !reason.startsWith(e.reason_prefix)) {
      fail(label + ': line ' + e.line + ' reason should start with "' + e.reason_prefix + '" (reference rejects it: ' +
        e.reference.slice(0, 120) + ')\n  tide: ' + reason.slice(0, 300))
    }
  }
  for (const [line, reason] of byLine) fail(label + ': line ' + line + ' rejected by tide but not by the reference: ' + reason.slice(0, 300))
  console.log(label + ': accepted ' + got.accepted + ', already had ' + got.already_had + ', rejected ' + got.rejected +
    ' (' + exp.rejects.length + ' reasons compared)')
}

// Checks exported lines with ssb-validate, chained per feed.
function checkWithReference (label, lines) {
  const state = {}
  let bad = 0
  for (const l of lines) {
    const { key, value } = JSON.parse(l)
    const err = validate.checkInvalid(state[value.author] || null, null, value)
    if (err) {
      bad++
      if (bad < 5) fail(label + ': ssb-validate rejects exported ' + key + ': ' + err.message.slice(0, 200))
    }
    const id = validate.id(value)
    if (id !== key) fail(label + ': exported key ' + key + ' but ssb-validate computes ' + id)
    state[value.author] = { id, sequence: value.sequence }
  }
  return Object.keys(state).length
}

// 1-3: valid.jsonl round trip
{
  const home = path.join(work, 'a')
  let r = run(home, ['init'])
  if (r.status !== 0) fail('init: exit ' + r.status + ': ' + r.stderr)
  const input = readLines(path.join(gen, 'valid.jsonl'))
  r = run(home, ['import', path.join(gen, 'valid.jsonl')])
  const rep = parseReport(r.stdout)
  if (r.status !== 0 || rep.accepted !== input.length || rep.already_had !== 0 || rep.rejected !== 0) {
    fail('import valid.jsonl: exit ' + r.status + ', report ' + JSON.stringify({ a: rep.accepted, h: rep.already_had, r: rep.rejected }) +
      ', expected all ' + input.length + ' accepted; first rejects: ' + JSON.stringify(rep.rejects.slice(0, 3)).slice(0, 600))
  }
  r = run(home, ['export'])
  if (r.status !== 0) fail('export: exit ' + r.status + ': ' + r.stderr)
  const exported = r.stdout.split('\n').filter((l) => l.length > 0)
  const perFeed = (lines) => {
    const m = new Map()
    for (const l of lines) {
      const a = JSON.parse(l).value.author
      if (!m.has(a)) m.set(a, [])
      m.get(a).push(l)
    }
    return m
  }
  const want = perFeed(input)
  const got = perFeed(exported)
  if (got.size !== want.size) fail('export: ' + got.size + ' feeds, imported ' + want.size)
  let differ = 0
  for (const [a, lines] of want) {
    const g = got.get(a) || []
    if (g.length !== lines.length) fail('export: feed ' + a + ' has ' + g.length + ' lines, imported ' + lines.length)
    for (let i = 0; i < Math.min(g.length, lines.length); i++) {
      if (g[i] !== lines[i] && differ++ < 3) fail('export: feed ' + a + ' line ' + (i + 1) + ' differs from the imported line\n  in:  ' + lines[i].slice(0, 300) + '\n  out: ' + g[i].slice(0, 300))
    }
  }
  const feedsSeen = checkWithReference('export', exported)
  console.log('round trip: ' + input.length + ' imported, ' + exported.length + ' exported over ' + feedsSeen + ' feeds, ' + differ + ' lines differ')

  // the export imports into a fresh home: everything accepted
  {
    const home2 = path.join(work, 'e')
    run(home2, ['init'])
    const f = path.join(work, 'export.jsonl')
    fs.writeFileSync(f, exported.join('\n') + '\n')
    const rr = run(home2, ['import', f])
    const rep2 = parseReport(rr.stdout)
    if (rr.status !== 0 || rep2.accepted !== exported.length || rep2.rejected !== 0) {
      fail('import of the export: exit ' + rr.status + ', accepted ' + rep2.accepted + ' of ' + exported.length)
    }
  }
  // other line shapes of the same messages: the bare value, and ssb-db's
  // {"key","value","timestamp"}, with CRLF line ends, from standard input;
  // all accepted
  {
    const home3 = path.join(work, 'f')
    run(home3, ['init'])
    const f = path.join(work, 'shapes.jsonl')
    const shaped = input.slice(0, 480).map((l, i) => {
      const e = JSON.parse(l)
      if (i % 3 === 0) return JSON.stringify(e.value)
      if (i % 3 === 1) return JSON.stringify({ key: e.key, value: e.value, timestamp: 1700000000000 + i })
      return l
    })
    // CRLF line ends and blank lines, read from standard input
    fs.writeFileSync(f, shaped.join('\r\n') + '\r\n\r\n')
    const rr = run(home3, ['import', '-'], fs.readFileSync(f))
    const rep3 = parseReport(rr.stdout)
    if (rr.status !== 0 || rep3.accepted !== shaped.length || rep3.rejected !== 0) {
      fail('import of bare values and {key,value,timestamp} lines: exit ' + rr.status + ', accepted ' + rep3.accepted + ' of ' +
        shaped.length + '; first rejects: ' + JSON.stringify(rep3.rejects.slice(0, 3)).slice(0, 400))
    }
  }

  r = run(home, ['import', path.join(gen, 'valid.jsonl')])
  const again = parseReport(r.stdout)
  if (r.status !== 0 || again.accepted !== 0 || again.already_had !== input.length || again.rejected !== 0) {
    fail('re-import: exit ' + r.status + ', report ' + JSON.stringify({ a: again.accepted, h: again.already_had, r: again.rejected }) + ', expected all already had')
  }

  // 5: publish, on the same home (its own feed is new)
  const contents = [
    { type: 'post', text: 'hello from tide' },
    { type: 'post', text: '漢字かな 한국어 😀🏳️‍🌈 e\u0301 \u2028 \u0000\u001f "\\/' },
    { type: 'post', lone: '\ud800 \udfff a\ud83d' },
    { type: 'numbers', a: 1e21, b: 1e-7, c: 0.1 + 0.2, d: -0, e: 2 ** 53 + 2, f: 5e-324, g: 1.7976931348623157e308 },
    { type: 'order', b: 1, a: 2, 10: 'x', 2: 'y', '01': 'z', 4294967295: 'w' },
    { type: 'nested', a: [[[[{}]]]], b: { c: { d: [] } }, e: '', f: null },
    { type: '😀😀' },
    { type: 'x'.repeat(52) },
    'aGVsbG8gd29ybGQ=.box',
    { type: 'pad', text: 'é'.repeat(7800) }
  ]
  const refused = [
    { type: 'ab' },
    { type: 'x'.repeat(53) },
    { text: 'no type' },
    ['post'],
    { type: 'pad', text: 'a'.repeat(8200) },
    'not a box string'
  ]
  let published = 0
  for (const c of contents) {
    const text = JSON.stringify(c)
    const p = run(home, ['publish', '--file', '-'], text)
    if (p.status !== 0) fail('publish ' + text.slice(0, 80) + ': exit ' + p.status + ': ' + p.stderr.slice(0, 300))
    else published++
  }
  for (const c of refused) {
    const text = JSON.stringify(c)
    const p = run(home, ['publish', '--file', '-'], text)
    if (p.status === 0) fail('publish accepted content the reference refuses: ' + text.slice(0, 80))
  }
  r = run(home, ['whoami'])
  const me = (/@[A-Za-z0-9+/=]{44}\.ed25519/.exec(r.stdout) || [])[0]
  if (!me) fail('whoami: no feed id in ' + JSON.stringify(r.stdout))
  r = run(home, ['export', me || '@'])
  const mine = r.stdout.split('\n').filter((l) => l.length > 0)
  if (mine.length !== published) fail('export of own feed: ' + mine.length + ' messages, published ' + published)
  checkWithReference('publish', mine)
  for (let i = 0; i < Math.min(mine.length, contents.length); i++) {
    const v = JSON.parse(mine[i]).value
    if (JSON.stringify(v.content) !== JSON.stringify(contents[i])) fail('publish: content ' + (i + 1) + ' stored differently: ' + JSON.stringify(v.content).slice(0, 200))
  }
  console.log('publish: ' + published + ' published and accepted by ssb-validate, ' + refused.length + ' refused contents checked')
}

// 4: mixed import files
{
  const home = path.join(work, 'b')
  run(home, ['init'])
  checkImport('import.jsonl', home, path.join(gen, 'import.jsonl'), path.join(gen, 'import-expect.json'))
  const home2 = path.join(work, 'c')
  run(home2, ['init'])
  checkImport('import-wire.jsonl', home2, path.join(gen, 'import-wire.jsonl'), path.join(gen, 'import-wire-expect.json'))
}

console.log('cli-conformance: ' + failures + ' failures')
process.exit(failures ? 1 : 0)
