// SPDX-License-Identifier: MIT
/**
 * `device show-config --qr`: the config and then a QR code of exactly that text; black on
 * white with colours on a terminal, plain blocks into a pipe; in the JSON as `qr`. The note on
 * stderr for a device with its own key.
 * @module
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import QRCode from 'qrcode';
import { errorCorrectionFor, renderQr } from '../src/qr.ts';
import { CONFIG_TEXT, cannedResults, cli, type FakeDaemon, fakeDaemon } from './_fake-daemon.ts';

let d: FakeDaemon;
before(async () => {
  d = await fakeDaemon();
});
after(async () => {
  await d.stop();
});

const BLOCKS = /[█▀▄]/;

describe('--qr', () => {
  it('prints the config, a blank line, then the QR block', async () => {
    const o = await cli(['device', 'show-config', '10.59.7.1/24', '10.59.7.2', '--qr'], d.env);
    assert.equal(o.code, 0, o.stderr);
    assert.ok(o.stdout.startsWith(`${CONFIG_TEXT}\n`));
    const qr = o.stdout.slice(CONFIG_TEXT.length + 1);
    assert.match(qr, BLOCKS);
    assert.equal(qr.includes('\u001b'), false, 'no colour codes into a pipe');
    assert.equal(qr, await renderQr(CONFIG_TEXT, false));
    // a square symbol: as many half-block rows as columns / 2 (rounded up)
    const rows = qr.slice(0, -1).split('\n');
    const width = [...rows[0]!].length;
    assert.ok(width >= 21 + 4, `width ${width}`);
    assert.ok(rows.every((r) => [...r].length === width));
    assert.equal(rows.length, Math.ceil(width / 2));
  });

  it('encodes exactly the config (same modules as a QR of the text)', async () => {
    const ec = errorCorrectionFor(CONFIG_TEXT);
    const symbol = QRCode.create(CONFIG_TEXT, { errorCorrectionLevel: ec });
    const rendered = (await renderQr(CONFIG_TEXT, false)).slice(0, -1).split('\n');
    // margin 2: module (x, y) is in text column x + 2, row (y + 2) / 2 (upper or lower half)
    const size = symbol.modules.size;
    assert.equal([...rendered[0]!].length, size + 4);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const ch = [...rendered[Math.floor((y + 2) / 2)]!][x + 2]!;
        const upper = (y + 2) % 2 === 0;
        const dark = upper ? ch === '█' || ch === '▀' : ch === '█' || ch === '▄';
        assert.equal(dark, Boolean(symbol.modules.get(y, x)), `module ${x},${y}`);
      }
    }
  });

  it('on a terminal: explicit black on white', async () => {
    const o = await cli(['device', 'show-config', '10.59.7.1/24', '10.59.7.2', '--qr'], d.env, {
      isTTY: true,
    });
    const qr = o.stdout.slice(CONFIG_TEXT.length + 1);
    assert.match(qr, BLOCKS);
    assert.ok(qr.includes('\u001b[47m\u001b[30m'), 'black on white');
  });

  it('error correction: M for a config, L when M would need a large symbol', () => {
    assert.equal(errorCorrectionFor(CONFIG_TEXT), 'M');
    assert.equal(QRCode.create(CONFIG_TEXT, { errorCorrectionLevel: 'M' }).version, 13);
    const long = `${CONFIG_TEXT}${'# padding line for a long config\n'.repeat(4)}`;
    assert.ok(QRCode.create(long, { errorCorrectionLevel: 'M' }).version > 14);
    assert.equal(errorCorrectionFor(long), 'L');
  });

  it('--format json carries config and qr', async () => {
    const o = await cli(
      ['device', 'show-config', '10.59.7.1/24', '10.59.7.2', '--qr', '-o', 'json'],
      d.env
    );
    const out = JSON.parse(o.stdout);
    assert.equal(out.config, CONFIG_TEXT);
    assert.match(out.qr, BLOCKS);
  });

  it('own key: a note on stderr saying where the private key goes', async () => {
    d.handle('device.show-config', () => ({
      ...cannedResults()['device.show-config'],
      ownKey: true,
    }));
    const o = await cli(['device', 'show-config', '10.59.7.1/24', '10.59.7.2'], d.env);
    assert.equal(o.code, 0);
    assert.equal(o.stdout, CONFIG_TEXT);
    assert.match(
      o.stderr,
      /^note: device "phone" 10\.59\.7\.2 brought its own key pair.*PrivateKey line of \[Interface\]/
    );
    assert.equal(o.stderr.split('\n').length, 2, 'one line');
  });
});
