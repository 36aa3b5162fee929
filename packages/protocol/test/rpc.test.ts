// SPDX-License-Identifier: MIT
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ErrorCode,
  isPublic,
  type MethodName,
  methods,
  type RpcContext,
  RpcDispatcher,
  type RpcResponse,
} from '../src/index.ts';

const ROOT: RpcContext = { auth: 'local' };
const STRANGER: RpcContext = { auth: 'none' };

function errorOf(r: RpcResponse | RpcResponse[]): { code: number; message: string } {
  assert.ok(!Array.isArray(r) && 'error' in r, `an error envelope: ${JSON.stringify(r)}`);
  return r.error;
}

describe('the contract', () => {
  it('has params and result schemas for every method; only auth.login is public', () => {
    for (const [name, m] of Object.entries(methods)) {
      assert.equal(typeof m.params.safeParse, 'function', `${name} params`);
      assert.equal(typeof m.result.safeParse, 'function', `${name} result`);
    }
    const open = Object.keys(methods).filter(isPublic);
    assert.deepEqual(open, ['auth.login']);
  });

  it('a handler that returns the wrong shape does not compile', () => {
    const d = new RpcDispatcher();
    // @ts-expect-error: subnet.remove returns null, not a string
    d.register('subnet.remove', () => 'removed');
    // @ts-expect-error: no such method in the contract
    d.register('subnet.rename', () => null);
    assert.ok(d.has('subnet.remove'), 'registered at run time all the same');
  });
});

describe('RpcDispatcher', () => {
  it('refuses strangers everything but auth.login, without revealing what exists', async () => {
    const d = new RpcDispatcher();
    d.register('subnet.list', () => []);
    for (const method of ['subnet.list', 'no.such-method']) {
      const r = await d.handle({ id: 1, method }, STRANGER);
      assert.equal(errorOf(r).code, ErrorCode.Authorization, method);
    }
    assert.equal(
      errorOf(await d.handle({ id: 1, method: 'no.such-method' }, ROOT)).code,
      ErrorCode.MethodNotFound
    );
  });

  it('names the field of bad params, refuses unknown ones', async () => {
    const d = new RpcDispatcher();
    d.register('subnet.add', (p) => ({
      subnet: p.subnet,
      name: p.name,
      network: '',
      devices: 0,
      wanIp: null,
      ipv6: null,
      gatewayIpv6: null,
      dns: { mode: 'default' as const, deviceIp: null, servers: [] },
    }));
    const missing = errorOf(
      await d.handle({ method: 'subnet.add', params: { subnet: 'x' } }, ROOT)
    );
    assert.equal(missing.code, ErrorCode.InvalidParams);
    assert.match(missing.message, /^Invalid name: is required$/);
    const extra = errorOf(
      await d.handle({ method: 'subnet.add', params: { subnet: 'x', name: 'y', z: 1 } }, ROOT)
    );
    assert.equal(extra.code, ErrorCode.InvalidParams);
  });

  it('caps batches and answers junk items with envelope errors', async () => {
    const d = new RpcDispatcher({ maxBatch: 3 });
    d.register('status', (() => null) as never);
    const long = errorOf(await d.handle([1, 2, 3, 4], ROOT));
    assert.match(long.message, /at most 3/);
    const out = await d.handle([1, null, [], { id: 7 }], { auth: 'local' }).catch(() => null);
    assert.ok(out !== null, 'never throws');
    const short = (await d.handle([1, { id: 7 }], ROOT)) as RpcResponse[];
    assert.deepEqual(
      short.map((r) => ('error' in r ? r.error.code : 0)),
      [ErrorCode.InvalidEnvelope, ErrorCode.InvalidEnvelope]
    );
    assert.equal(errorOf(await d.handle([], ROOT)).code, ErrorCode.InvalidEnvelope);
  });

  it('checks results against the contract when asked', async () => {
    const bad = () => [{ subnet: '10.59.1.1/24', name: 'x', network: '10.59.1.0/24' }];
    const lax = new RpcDispatcher();
    lax.register('subnet.list', bad as never);
    const r = await lax.handle({ id: 1, method: 'subnet.list' }, ROOT);
    assert.ok(!Array.isArray(r) && 'result' in r, 'unchecked by default');
    const strict = new RpcDispatcher({ checkResults: true });
    strict.register('subnet.list', bad as never);
    const e = errorOf(await strict.handle({ id: 1, method: 'subnet.list' }, ROOT));
    assert.match(e.message, /Result of subnet\.list breaks the contract at \[0\]\.devices/);
  });

  it('turns thrown errors into code 1 and keeps RpcErrors as they are', async () => {
    const d = new RpcDispatcher();
    d.register('wan.show', () => {
      throw new Error('boom');
    });
    assert.deepEqual(errorOf(await d.handle({ method: 'wan.show' }, ROOT)), {
      code: ErrorCode.Unknown,
      message: 'boom',
    });
    const names: MethodName[] = d.names();
    assert.deepEqual(names, ['wan.show']);
  });
});
