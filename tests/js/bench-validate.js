#!/usr/bin/env node
// bench-validate.js - the JavaScript reference for tests/bench/ingest.c.
//
//     node tests/js/bench-validate.js FILE.jsonl
//
// Loads the messages of FILE (one JSON message per line, as the C
// benchmark writes them), then times ssb-validate@4.1.4's append() -- the
// path every SSB server takes for a new message: checkInvalid() (shape,
// order, sequence, previous, size, signature via ssb-keys/chloride) plus
// the message id -- on one thread, from an empty state.  Parsing the file
// is not timed (the C side's figure includes parsing, so this favours JS).
// Prints `js_validate_per_s <rate> msg/s`, `js_validate_cpu_per_s <rate>
// msg/s` (per CPU second) and `js_messages <n> count` on stdout, the
// crypto backend on stderr.  Exit 1 if a message is rejected.
'use strict'
const fs = require('fs')
const path = require('path')
const validate = require(path.join(__dirname, 'node_modules', 'ssb-validate'))

const file = process.argv[2]
if (!file) {
  console.error('usage: node bench-validate.js FILE.jsonl')
  process.exit(2)
}
const msgs = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0)
  .map((l) => JSON.parse(l))

let backend = 'javascript'
try {
  require(path.join(__dirname, 'node_modules', 'chloride', 'bindings'))
  backend = 'sodium-native'
} catch (e) { /* chloride falls back to its JavaScript build */ }
console.error(`bench-validate: ${msgs.length} messages, chloride backend ${backend}`)

let best = 0
let bestCpu = 0
for (let run = 0; run < 2; run++) {
  let state = validate.initial()
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (const m of msgs) {
    state = validate.append(state, null, m)
    state.queue.length = 0 // what a server does after writing them out
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  const c = process.cpuUsage(c0)
  const rate = msgs.length / s
  const cpuRate = msgs.length / ((c.user + c.system) / 1e6)
  if (rate > best) best = rate
  if (cpuRate > bestCpu) bestCpu = cpuRate
}
console.log(`js_messages ${msgs.length} count`)
console.log(`js_validate_per_s ${best.toFixed(0)} msg/s`)
// Per second of CPU time of this process (includes V8's GC threads).
console.log(`js_validate_cpu_per_s ${bestCpu.toFixed(0)} msg/s`)
