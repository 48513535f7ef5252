#!/usr/bin/env node
// import-gossb.js - dev-time converter for the go-ssb (MIT) test vectors.
//
// Source: github.com/ssbc/go-ssb, message/legacy/testdata.zip and
// message/legacy/verify_test.go (both SPDX MIT, "The Go-SSB Authors").
// The zip holds, per message of one real feed, <seq>.full = the JSON of
// {key, value, timestamp} as an SSB server returned it.  This script turns
// it into tests/data/go-ssb-legacy.jsonl (one {"key","value"} per line, in
// feed order) and the two TestVerifyBugs messages into
// tests/data/go-ssb-verify-bugs.jsonl (cases with state, expected id), and
// checks every message with ssb-validate on the way, so a committed vector
// is known to be valid for the reference.
//
//   unzip testdata.zip -d DIR   (or any extractor)
//   node import-gossb.js DIR verify_test.go OUTDIR
'use strict'
const fs = require('fs')
const path = require('path')
const validate = require('ssb-validate')

const [dir, verifyGo, outDir] = process.argv.slice(2)
if (!outDir) {
  console.error('usage: import-gossb.js EXTRACTED_ZIP_DIR verify_test.go OUTDIR')
  process.exit(2)
}

const names = fs.readdirSync(dir).filter((n) => /^\d{5}\.full$/.test(n)).sort()
let state = null
const lines = []
names.forEach((n, i) => {
  if (n !== String(i + 1).padStart(5, '0') + '.full') throw new Error('gap at ' + n)
  const full = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8'))
  const err = validate.checkInvalid(state, null, full.value)
  if (err) throw new Error(n + ': ' + err.message)
  const id = validate.id(full.value)
  if (id !== full.key) throw new Error(n + ': id ' + id + ' != ' + full.key)
  state = { id, sequence: full.value.sequence }
  lines.push(JSON.stringify({ key: full.key, value: full.value }))
})
fs.writeFileSync(path.join(outDir, 'go-ssb-legacy.jsonl'), lines.join('\n') + '\n')

// TestVerifyBugs: Go raw strings `...` holding JSON texts, with seq and key.
const go = fs.readFileSync(verifyGo, 'utf8')
const body = go.slice(go.indexOf('func TestVerifyBugs'))
const rx = /seq:\s*(\d+),\s*key:\s*`([^`]+)`,\s*msg:\s*\[\]byte\(`([^`]+)`\)/g
const cases = []
let m
while ((m = rx.exec(body)) !== null) {
  const msg = JSON.parse(m[3])
  const st = { id: msg.previous, sequence: Number(m[1]) - 1 }
  const err = validate.checkInvalid(st, null, msg)
  if (err) throw new Error('verify bug case: ' + err.message)
  if (validate.id(msg) !== m[2]) throw new Error('verify bug case: id differs')
  cases.push(JSON.stringify({ kind: 'go-ssb TestVerifyBugs seq ' + m[1], state: st, hmacKey: null, message: msg, valid: true, id: m[2] }))
}
if (cases.length !== 2) throw new Error('expected 2 TestVerifyBugs cases, found ' + cases.length)
fs.writeFileSync(path.join(outDir, 'go-ssb-verify-bugs.jsonl'), cases.join('\n') + '\n')
console.log('wrote ' + lines.length + ' feed messages and ' + cases.length + ' verify-bug cases')
