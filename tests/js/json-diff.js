#!/usr/bin/env node
// json-diff.js - differential test of tide's JSON against V8.
//
// Usage: node json-diff.js PATH/TO/json_tool [count] [seed]
//
// Generates `count` (default 24000) random JSON texts from a fixed seed:
// numbers over the whole double range (subnormals, powers of two, values
// near 2^53 and 1e21, decimal midpoints between doubles) spelled in many
// ways, strings with controls, quotes, lone surrogates and astral
// characters written raw or escaped, objects with index-like and duplicate
// keys, random whitespace; plus mutated (mostly invalid) texts.  Each text
// goes through json_tool (parse, write compact and indent 2, 'binary'
// encoding, UTF-16 length), and every result must equal what V8 gives:
// JSON.parse failing <=> the tool rejecting, else JSON.stringify(v),
// JSON.stringify(v, null, 2), Buffer.from(pretty, 'binary') and
// pretty.length byte for byte.  Exit status 1 on any mismatch.
'use strict';

const { spawnSync } = require('child_process');

const tool = process.argv[2];
const COUNT = parseInt(process.argv[3] || '24000', 10);
let seed = parseInt(process.argv[4] || '20261125', 10) >>> 0;
if (!tool) {
  console.error('usage: node json-diff.js JSON_TOOL [count] [seed]');
  process.exit(2);
}

// xorshift32: small, fixed-seed, reproducible.
function rnd() {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed;
}
const rint = (n) => rnd() % n;
const pick = (a) => a[rint(a.length)];
const chance = (p) => rnd() / 4294967296 < p;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
function fromBits(hi, lo) { u32[1] = hi >>> 0; u32[0] = lo >>> 0; return f64[0]; }
function bitsOf(d) { f64[0] = d; return [u32[1], u32[0]]; }
function nextUp(d) {
  let [hi, lo] = bitsOf(d);
  lo = (lo + 1) >>> 0;
  if (lo === 0) hi = (hi + 1) >>> 0;
  return fromBits(hi, lo);
}

// The exact decimal expansion of the midpoint between d > 0 and the next
// double up, via BigInt: (m1 + m2) * 2^(e-1).
function midpointDecimal(d) {
  const up = nextUp(d);
  if (!isFinite(up)) return null;
  const parts = (x) => {
    const [hi, lo] = bitsOf(x);
    const bexp = (hi >>> 20) & 0x7ff;
    let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    let e;
    if (bexp === 0) e = -1074; else { m |= 1n << 52n; e = bexp - 1075; }
    return [m, e];
  };
  const [m1, e1] = parts(d);
  const [m2, e2] = parts(up);
  // Bring both to the smaller exponent, sum, halve (exponent - 1).
  const e = Math.min(e1, e2);
  const sum = (m1 << BigInt(e1 - e)) + (m2 << BigInt(e2 - e));
  const ex = e - 1; // midpoint = sum * 2^ex
  if (ex >= 0) return (sum << BigInt(ex)).toString();
  const scale = BigInt(-ex);
  const num = sum * 5n ** scale; // sum * 5^k / 10^k
  let s = num.toString();
  const k = Number(scale);
  if (s.length <= k) s = '0'.repeat(k - s.length + 1) + s;
  return s.slice(0, s.length - k) + '.' + s.slice(s.length - k);
}

function randomDouble() {
  switch (rint(12)) {
    case 0: case 1: { // any bit pattern (finite)
      let d;
      do { d = fromBits(rnd(), rnd()); } while (!isFinite(d));
      return d;
    }
    case 2: return fromBits(rint(0x100000) | (chance(0.5) ? 0x80000000 : 0), rnd()); // subnormal
    case 3: return Math.pow(2, rint(2098) - 1074) * (chance(0.2) ? -1 : 1); // powers of two
    case 4: return 9007199254740992 + (rint(64) - 32) * (chance(0.5) ? 1 : 2);
    case 5: { // around 1e21 and other decade edges
      let d = pick([1e21, 1e-6, 1e-7, 1e20, 1e22, 1e15, 1e16, 1e17, 123456789012345680000]);
      for (let i = rint(6); i > 0; i--) d = chance(0.5) ? nextUp(d) : -nextUp(-d);
      return d;
    }
    case 6: return rint(1 << 30) * (chance(0.5) ? 1 : rnd()); // integers
    case 7: return Math.round((rnd() / 4294967296) * Math.pow(10, rint(12))) / Math.pow(10, rint(10));
    case 8: return 1514871658466 + rint(1000000000) + pick([0, 0.001, 0.5, 0.123, 0.9990234375]);
    case 9: return parseFloat((rnd() / 4294967296).toPrecision(1 + rint(17))) * Math.pow(10, rint(60) - 30);
    case 10: return pick([0, -0, 1, -1, 0.1, 0.2, 0.3, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
      1.7976931348623157e308, 4.35, 0.000001, 1.5e-7, 1e-7, 100, 1e100, 0.1 + 0.2, 2 ** 53 + 1]);
    default: return (rnd() - 2147483648) / Math.pow(2, rint(64));
  }
}

// A JSON number token for d (not necessarily the shortest spelling).
function spellNumber(d) {
  const r = rint(12);
  if (r === 0) return d.toExponential(rint(21)).replace('e', pick(['e', 'E']));
  if (r === 1) return d.toPrecision(1 + rint(21));
  if (r === 2 && Math.abs(d) < 1e21) return d.toFixed(rint(40));
  if (r === 3 && d > 0) {
    // Near or exactly at a midpoint between two doubles (ties to even).
    let m = midpointDecimal(d);
    if (m !== null) {
      if (m.length > 1200) m = m.slice(0, 1200);
      const t = rint(3);
      if (t === 1) m += '0001';
      else if (t === 2 && m.includes('.')) m = m.replace(/(\d)$/, (x) => (x === '0' ? '0' : String(+x - 1)) + '999');
      return m;
    }
  }
  if (r === 4) return pick(['1e400', '-1e400', '1e-400', '-1e-400', '0e10', '-0.0', '0.0e-0', '1E+2', '123456789012345678901234567890',
    '0.' + '0'.repeat(rint(400)) + '1', '1' + '0'.repeat(rint(400)), '4.9406564584124654e-324', '2.4703282292062328e-324',
    '2.4703282292062327e-324', '1.7976931348623158e308', '1.7976931348623159e308', '9007199254740993', '-0']);
  return JSON.stringify(d) === 'null' ? '0' : JSON.stringify(d);
}

const specialUnits = [0, 1, 8, 9, 10, 11, 12, 13, 31, 0x22, 0x5c, 0x2f, 0x7f, 0x80, 0xa0, 0xff, 0x100,
  0x2028, 0x2029, 0xfeff, 0xfffe, 0xffff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xd83d, 0xde00, 0xe000];

function randomUnits() {
  const n = rint(4) === 0 ? rint(40) : rint(8);
  const u = [];
  for (let i = 0; i < n; i++) {
    switch (rint(7)) {
      case 0: u.push(pick(specialUnits)); break;
      case 1: u.push(rint(0x20)); break;
      case 2: u.push(0xd800 + rint(0x800)); break; // any surrogate (maybe paired by chance)
      case 3: { const cp = 0x10000 + rint(0x100000); u.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + (cp & 0x3ff)); break; }
      case 4: u.push(rint(0x10000)); break;
      default: u.push(0x20 + rint(0x5f));
    }
  }
  return u;
}

const hex4 = (c) => {
  const h = c.toString(16).padStart(4, '0');
  return chance(0.5) ? h : h.toUpperCase();
};
const shortEsc = { 0x22: '\\"', 0x5c: '\\\\', 0x2f: '\\/', 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };

// A string literal whose JSON.parse value is the code units `u`.
function spellString(u) {
  let s = '"';
  for (let i = 0; i < u.length; i++) {
    const c = u[i];
    const hi = c >= 0xd800 && c <= 0xdbff, lo = c >= 0xdc00 && c <= 0xdfff;
    const paired = hi && i + 1 < u.length && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff;
    if (paired && chance(0.6)) { // raw astral character
      s += String.fromCharCode(c, u[i + 1]);
      i++;
      continue;
    }
    if (c < 0x20 || c === 0x22 || c === 0x5c || hi || lo || chance(0.15)) {
      if (shortEsc[c] !== undefined && chance(0.7)) s += shortEsc[c];
      else s += '\\u' + hex4(c);
      continue;
    }
    s += String.fromCharCode(c);
  }
  return s + '"';
}

const keyPool = ['0', '1', '2', '10', '9', '007', '01', '-1', '-0', '1.5', '1e3', '4294967294', '4294967295', '4294967296',
  '42949672940', '99999999999', '', 'a', 'b', 'key', '__proto__', 'constructor', 'toString', 'length', ' 1', '1 ',
  '+1', 'previous', 'author', 'sequence', 'timestamp', 'hash', 'content', 'signature', '\u0000', '\ud800', 'é'];

const ws = () => {
  let s = '';
  for (let n = rint(4) === 0 ? rint(3) : 0; n > 0; n--) s += pick([' ', '\t', '\n', '\r']);
  return s;
};

function randomKey() {
  if (chance(0.6)) {
    const k = pick(keyPool);
    return spellString(Array.from(k, (ch) => ch.charCodeAt(0)));
  }
  if (chance(0.3)) return '"' + String(rnd() % (chance(0.5) ? 100 : 4294967300)) + '"';
  return spellString(randomUnits());
}

function genValue(depth) {
  // Containers thin out with depth so texts stay a few hundred bytes.
  const r = rint(depth >= 4 ? 5 : 9);
  switch (r) {
    case 0: return pick(['null', 'true', 'false']);
    case 1: case 2: return spellNumber(randomDouble());
    case 3: case 4: return spellString(randomUnits());
    case 5: case 6: {
      const n = rint(depth < 2 ? 6 : 3);
      const items = [];
      for (let i = 0; i < n; i++) items.push(ws() + genValue(depth + 1) + ws());
      return '[' + (n === 0 ? ws() : items.join(',')) + ']';
    }
    default: {
      const n = depth === 0 && rint(4) === 0 ? rint(40) : rint(depth < 2 ? 7 : 3);
      const members = [];
      const keys = [];
      for (let i = 0; i < n; i++) {
        const k = keys.length > 0 && chance(0.15) ? pick(keys) : randomKey();
        keys.push(k);
        members.push(ws() + k + ws() + ':' + ws() + genValue(depth + 1) + ws());
      }
      return '{' + (n === 0 ? ws() : members.join(',')) + '}';
    }
  }
}

const mutations = [',', ']', '}', '[', '{', '0', '-', '.', 'e', '+', '"', '\\', 'x', ' ', '\u0001', '\u000b', '\u00a0',
  '\ufeff', '\u2028', ':', 'n', 'tru', '01', '1.', '.5', '\\u12', '\\x41', '/* */', 'NaN', 'Infinity', "'"];

function mutate(text) {
  const chars = Array.from(text);
  const i = rint(chars.length + 1);
  switch (rint(3)) {
    case 0: chars.splice(i, 1); break;
    case 1: chars.splice(i, 0, pick(mutations)); break;
    default: chars[i] = pick(mutations);
  }
  return chars.join('');
}

// Build the cases.
const texts = [];
for (let i = 0; i < COUNT; i++) {
  const t = ws() + genValue(0) + ws();
  texts.push(t);
  if (i % 5 === 0) texts.push(mutate(t));
}
// A long flat array of numbers and a big object keep the bulk paths honest.
const nums = [];
for (let i = 0; i < 20000; i++) nums.push(spellNumber(randomDouble()));
texts.push('[' + nums.join(',') + ']');
const big = [];
for (let i = 0; i < 5000; i++) big.push(JSON.stringify(String(rnd() % (i % 2 ? 6000 : 4294967300))) + ':' + i);
texts.push('{' + big.join(',') + '}');

const chunks = [];
for (const t of texts) {
  const b = Buffer.from(t, 'utf8');
  chunks.push(Buffer.from(b.length + '\n'), b);
}
const res = spawnSync(tool, [], { input: Buffer.concat(chunks), maxBuffer: 1 << 30 });
if (res.status !== 0 || res.error) {
  console.error('json_tool failed:', res.error || res.status, String(res.stderr));
  process.exit(1);
}
const out = res.stdout;
let pos = 0;
function line() {
  const nl = out.indexOf(10, pos);
  if (nl < 0) throw new Error('truncated tool output');
  const s = out.toString('latin1', pos, nl);
  pos = nl + 1;
  return s;
}
function block() {
  const n = parseInt(line(), 10);
  const b = out.subarray(pos, pos + n);
  pos += n;
  return b;
}

let failures = 0, accepted = 0, rejected = 0;
function fail(i, what, got, want) {
  failures++;
  if (failures <= 10) {
    console.error(`case ${i}: ${what}\n  text: ${JSON.stringify(texts[i]).slice(0, 400)}\n  tide: ${String(got).slice(0, 400)}\n  node: ${String(want).slice(0, 400)}`);
  }
}
for (let i = 0; i < texts.length; i++) {
  let v, ok = true;
  try { v = JSON.parse(texts[i]); } catch (e) { ok = false; }
  const head = line();
  if (!ok) {
    if (!head.startsWith('ERR')) { fail(i, 'node rejects, tide accepts', head, 'SyntaxError'); block(); block(); block(); line(); }
    else rejected++;
    continue;
  }
  if (head !== 'OK') { fail(i, 'node accepts, tide rejects', head, JSON.stringify(v).slice(0, 200)); continue; }
  accepted++;
  const compact = block(), pretty = block(), bin = block(), u16 = parseInt(line(), 10);
  const wantC = JSON.stringify(v), wantP = JSON.stringify(v, null, 2);
  if (!compact.equals(Buffer.from(wantC, 'utf8'))) fail(i, 'compact differs', compact.toString(), wantC);
  if (!pretty.equals(Buffer.from(wantP, 'utf8'))) fail(i, 'pretty differs', pretty.toString(), wantP);
  if (!bin.equals(Buffer.from(wantP, 'binary'))) fail(i, 'binary encoding differs', bin.toString('hex'), Buffer.from(wantP, 'binary').toString('hex'));
  if (u16 !== wantP.length) fail(i, 'UTF-16 length differs', u16, wantP.length);
}
if (pos !== out.length) { console.error('trailing tool output'); failures++; }
console.log(`json-diff: ${texts.length} texts (${accepted} accepted, ${rejected} rejected by both), ${failures} mismatches`);
process.exit(failures === 0 ? 0 : 1);
