#!/usr/bin/env node
// check-tide-messages.js - the reference checks messages tide created.
//
//   node check-tide-messages.js FILE.jsonl [MIN_MESSAGES MIN_FEEDS]
//
// FILE.jsonl lines are {"hmacKey","nearLimit","key","text","value"} as
// written by tests/conformance/mkmsgs.c, or {"key","value"} lines (as
// `tide export` writes).  Per author, in file order, every value must be
// accepted by ssb-validate.checkInvalid(state, hmacKey, value) with state
// chained from the previous message; ssb-validate.id(value) must equal
// tide's key; when "text" is given, JSON.stringify(value, null, 2) must
// equal tide's canonical text byte for byte; a "nearLimit" message must be
// within one padding unit (<= 6 UTF-16 units) of the 8192 limit.
// Exit 0 when all pass, 1 otherwise (first failures on stderr).
'use strict'
const fs = require('fs')
const validate = require('ssb-validate')

const [file, minMsgs, minFeeds] = process.argv.slice(2)
if (!file) {
  console.error('usage: check-tide-messages.js FILE.jsonl [MIN_MESSAGES MIN_FEEDS]')
  process.exit(2)
}
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0)
const state = {}
let failures = 0
let hmacMsgs = 0
let nearLimit = 0
function fail (n, what) {
  failures++
  if (failures <= 20) console.error(file + ':' + n + ': ' + what)
}
lines.forEach((line, i) => {
  const n = i + 1
  let e
  try {
    e = JSON.parse(line)
  } catch (err) {
    fail(n, 'not JSON: ' + err.message)
    return
  }
  const msg = e.value
  const hmacKey = e.hmacKey == null ? null : e.hmacKey
  if (hmacKey) hmacMsgs++
  const author = msg && msg.author
  const st = state[author] || null
  const err = validate.checkInvalid(st, hmacKey, msg)
  // on a rejection the chain still moves on (to the message tide made),
  // so one bad message is reported once, not for the rest of its feed
  if (err) fail(n, 'ssb-validate rejects: ' + err.message.slice(0, 300))
  const id = validate.id(msg)
  if (id !== e.key) fail(n, 'id differs: ssb-validate ' + id + ', tide ' + e.key)
  const text = JSON.stringify(msg, null, 2)
  if (e.text !== undefined && text !== e.text) fail(n, 'canonical text differs from JSON.stringify(value, null, 2)')
  if (e.nearLimit) {
    nearLimit++
    if (text.length > 8192 || 8192 - text.length > 6) fail(n, 'near-limit message has ' + text.length + ' units')
  }
  state[author] = { id, sequence: msg.sequence }
})
const feeds = Object.keys(state).length
console.log('check-tide-messages: ' + lines.length + ' messages, ' + feeds + ' feeds, ' + hmacMsgs +
  ' with an HMAC key, ' + nearLimit + ' near the size limit, ' + failures + ' failures')
if (minMsgs && (lines.length < Number(minMsgs) || feeds < Number(minFeeds))) {
  console.error('expected at least ' + minMsgs + ' messages over ' + minFeeds + ' feeds')
  process.exit(1)
}
process.exit(failures ? 1 : 0)
