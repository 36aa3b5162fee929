// SPDX-License-Identifier: MIT
// JSON Pointer (RFC 6901) parsing and the db.* parameter schemas.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPointer, methods, parsePointer } from '../src/index.ts';

test('JSON Pointers parse with ~0 and ~1 escapes and round-trip', () => {
  assert.deepEqual(parsePointer(''), []);
  assert.deepEqual(parsePointer('/'), ['']);
  assert.deepEqual(parsePointer('/subnets/10.59.7.1~124/a~0b'), ['subnets', '10.59.7.1/24', 'a~b']);
  assert.equal(formatPointer(['subnets', '10.59.7.1/24', 'a~b']), '/subnets/10.59.7.1~124/a~0b');
  // ~01 is "~1" literally, not "/" (RFC 6901 §4: ~1 is decoded before ~0)
  assert.deepEqual(parsePointer('/~01'), ['~1']);
  assert.throws(() => parsePointer('subnets'), /start with "\/"/);
  assert.throws(() => parsePointer('/a~2'), /~/);
});

test('db.apply takes RFC 6902 operations and names the field at fault', () => {
  const params = methods['db.apply'].params;
  assert.ok(params.safeParse({ patch: [{ op: 'add', path: '/a', value: { b: [1] } }] }).success);
  assert.ok(params.safeParse({ patch: [{ op: 'move', from: '/a', path: '/b' }] }).success);
  const cases: [unknown, string][] = [
    [{ patch: [{ op: 'add', path: '/a' }] }, 'patch.0.value'],
    [{ patch: [{ op: 'frob', path: '/a' }] }, 'patch.0.op'],
    [{ patch: [{ op: 'remove', path: 'a' }] }, 'patch.0.path'],
    [{ patch: [{ op: 'copy', path: '/a' }] }, 'patch.0.from'],
    [{ patch: {} }, 'patch'],
  ];
  for (const [input, path] of cases) {
    const r = params.safeParse(input);
    assert.ok(!r.success, JSON.stringify(input));
    assert.equal(r.error.issues[0]?.path.join('.'), path, JSON.stringify(input));
  }
  const dump = methods['db.dump'].params;
  assert.ok(dump.safeParse({ pointer: '/wan', includeSecrets: true }).success);
  assert.ok(!dump.safeParse({ pointer: 'wan' }).success);
});
