// SPDX-License-Identifier: MIT
/**
 * The panel's store over the daemon's `web` section (`src/web-store.ts`): a missing section reads
 * as `emptyWebData()`, reads are stable, an update works on a copy (the stored value is never
 * mutated, a throwing updater changes nothing), both updater styles (mutate, return) are stored,
 * `beforeCommit` sees the new and old values and can refuse; and the port reservation of the
 * daemon extension (`panelPort`).
 * @module
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyWebData, type WebData } from '@start-tunnel/web';
import { panelPort } from '../src/web-extension.ts';
import { type WebSection, webDataOf, webSectionStore } from '../src/web-store.ts';

/** The daemon's section in memory: what `DaemonContext.webSection` does, minus the disk. */
function section(initial: Record<string, unknown> | null = null) {
  const s = {
    value: initial,
    writes: 0,
    read: () => s.value,
    async update(fn: (current: Record<string, unknown> | null) => Record<string, unknown>) {
      s.value = fn(s.value);
      s.writes++;
    },
  };
  return s satisfies WebSection & { value: unknown; writes: number };
}

describe('webSectionStore', () => {
  it('a missing section reads as empty web data, the same object each time', () => {
    const store = webSectionStore(section());
    assert.deepEqual(store.read(), emptyWebData());
    assert.equal(store.read(), store.read());
  });

  it('a stored section is read as stored; missing parts are filled in', () => {
    const full = emptyWebData();
    full.password = '$argon2id$x';
    const store = webSectionStore(section(full as unknown as Record<string, unknown>));
    assert.equal(store.read(), full);
    const partial = webDataOf({ password: '$argon2id$y' });
    assert.deepEqual(partial, { ...emptyWebData(), password: '$argon2id$y' });
  });

  it('an update mutates a copy and stores it; the old value is untouched', async () => {
    const s = section();
    const store = webSectionStore(s);
    await store.update((d) => {
      d.password = 'hash-1';
      d.keys['PEM'] = { name: 'laptop', addedAt: '2026-01-01T00:00:00.000Z' };
    });
    const first = store.read();
    assert.equal(first.password, 'hash-1');
    assert.equal(s.writes, 1);
    await store.update((d) => {
      d.webserver.listen = '127.0.0.1:8443';
      delete d.keys['PEM'];
    });
    assert.equal(first.webserver.listen, null, 'the previous value was not mutated');
    assert.deepEqual(first.keys, { PEM: { name: 'laptop', addedAt: '2026-01-01T00:00:00.000Z' } });
    assert.equal(store.read().webserver.listen, '127.0.0.1:8443');
    assert.deepEqual(store.read().keys, {});
  });

  it('an updater may return the new value instead', async () => {
    const store = webSectionStore(section());
    const next: WebData = { ...emptyWebData(), password: 'returned' };
    await store.update(() => next);
    assert.equal(store.read().password, 'returned');
  });

  it('a throwing updater changes nothing', async () => {
    const s = section();
    const store = webSectionStore(s);
    await store.update((d) => {
      d.password = 'kept';
    });
    const before = store.read();
    await assert.rejects(
      store.update((d) => {
        d.password = 'lost';
        throw new Error('refused');
      }),
      /refused/
    );
    assert.equal(store.read(), before);
    assert.equal(store.read().password, 'kept');
    assert.equal(s.writes, 1);
  });

  it('beforeCommit sees the new and the previous value, and can refuse', async () => {
    const seen: [string | null, string | null][] = [];
    const s = section();
    const store = webSectionStore(s, {
      beforeCommit: (next, previous) => {
        seen.push([previous.webserver.listen, next.webserver.listen]);
        if (next.webserver.listen === 'bad') throw new Error('no');
      },
    });
    await store.update((d) => {
      d.webserver.listen = 'a:1';
    });
    await assert.rejects(
      store.update((d) => {
        d.webserver.listen = 'bad';
      }),
      /no/
    );
    assert.deepEqual(seen, [
      [null, 'a:1'],
      ['a:1', 'bad'],
    ]);
    assert.equal(store.read().webserver.listen, 'a:1');
  });
});

describe('panelPort', () => {
  const at = (enabled: boolean, listen: string | null): WebData => {
    const d = emptyWebData();
    d.webserver.enabled = enabled;
    d.webserver.listen = listen;
    return d;
  };
  it('the listen port while enabled, else none', () => {
    assert.equal(panelPort(at(true, '203.0.113.5:8443')), 8443);
    assert.equal(panelPort(at(true, '[2001:db8::1]:443')), 443);
    assert.equal(panelPort(at(false, '203.0.113.5:8443')), null);
    assert.equal(panelPort(at(true, null)), null);
    assert.equal(panelPort(at(true, '127.0.0.1:0')), null);
  });
});
