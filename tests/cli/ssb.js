// ssb.js - the JavaScript SSB reference (ssb-keys, ssb-validate) as a
// command-line helper for the CLI tests.  Run with NODE_PATH pointing at
// tests/js/node_modules.
//
//   node ssb.js secret PATH              new ssb-keys secret file; prints @id
//   node ssb.js feed PATH N PREFIX [T0]  prints N messages (one compact JSON
//                                        value per line) of PATH's feed, post
//                                        texts "PREFIX 1".."PREFIX N"
//   node ssb.js validate FILE            validates FILE's lines (message values
//                                        or {key,value} wrappers, in order, per
//                                        feed) like ssb-validate; prints
//                                        "line N: reason" per invalid line and
//                                        "valid: K"; exit 1 when any is invalid
//                                        or a wrapper's key differs from the id
//   node ssb.js ids FILE                 prints the computed id of each line
//   node ssb.js get FILE LINE EXPR       prints EXPR (a JS expression of `m`,
//                                        the message value) for one line
//   node ssb.js tamper                   reads a message on stdin, changes its
//                                        content.text, prints it (signature kept)
'use strict'
const fs = require('fs')
const ssbKeys = require('ssb-keys')
const validate = require('ssb-validate')

function lines (file) {
  return fs.readFileSync(file, 'utf8').split('\n').map((l, i) => [i + 1, l]).filter(([, l]) => l.trim() !== '')
}

function unwrap (obj) {
  return obj && typeof obj === 'object' && 'value' in obj && typeof obj.value === 'object' ? obj : { value: obj }
}

const [cmd, ...args] = process.argv.slice(2)
switch (cmd) {
  case 'secret': {
    const keys = ssbKeys.createSync(args[0])
    console.log(keys.id)
    break
  }
  case 'feed': {
    const keys = ssbKeys.loadSync(args[0])
    const n = +args[1]
    let t = args[3] ? +args[3] : 1700000000000
    let state = null
    for (let i = 1; i <= n; i++) {
      const msg = validate.create(state, keys, null, { type: 'post', text: args[2] + ' ' + i }, t++)
      state = { id: validate.id(msg), sequence: msg.sequence, timestamp: msg.timestamp, queue: [] }
      console.log(JSON.stringify(msg))
    }
    break
  }
  case 'validate': {
    const feeds = {}
    let ok = 0
    let bad = 0
    for (const [n, l] of lines(args[0])) {
      let kvt
      try { kvt = unwrap(JSON.parse(l)) } catch (e) { console.log('line ' + n + ': ' + e.message); bad++; continue }
      const msg = kvt.value
      const err = validate.checkInvalid(feeds[msg.author] || null, null, msg)
      const id = validate.id(msg)
      if (err) { console.log('line ' + n + ': ' + err.message); bad++; continue }
      if (kvt.key !== undefined && kvt.key !== id) { console.log('line ' + n + ': key mismatch'); bad++; continue }
      feeds[msg.author] = { id, sequence: msg.sequence, timestamp: msg.timestamp, queue: [] }
      ok++
    }
    console.log('valid: ' + ok)
    process.exit(bad ? 1 : 0)
    break
  }
  case 'ids': {
    for (const [, l] of lines(args[0])) console.log(validate.id(unwrap(JSON.parse(l)).value))
    break
  }
  case 'get': {
    const l = fs.readFileSync(args[0], 'utf8').split('\n')[+args[1] - 1]
    const m = unwrap(JSON.parse(l)).value // eslint-disable-line no-unused-vars
    console.log(String(eval(args[2]))) // eslint-disable-line no-eval
    break
  }
  case 'tamper': {
    const m = JSON.parse(fs.readFileSync(0, 'utf8'))
    m.content.text = m.content.text + ' (edited)'
    console.log(JSON.stringify(m))
    break
  }
  default:
    console.error('usage: node ssb.js secret|feed|validate|ids|get|tamper ...')
    process.exit(2)
}
