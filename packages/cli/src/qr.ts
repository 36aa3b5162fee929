// SPDX-License-Identifier: MIT
/**
 * The terminal QR code of a device config, for the WireGuard mobile apps' "scan from QR code"
 * (ours: the original's `device show-config` prints only the text). The error correction is
 * chosen to keep the code large enough to scan: medium error correction while the symbol stays at
 * version 14 (73 modules, so with its margin it fits an 80-column terminal; a config is about 330
 * characters, version 13),
 * else low, which keeps a long config within the screen and its modules large. On a terminal the code is drawn with
 * explicit black-on-white colours so dark themes do not invert it; into a pipe or a file it is
 * plain UTF-8 half blocks (dark modules as blocks).
 * @module
 */

import QRCode from 'qrcode';

/** Largest version kept at medium error correction. */
const MAX_VERSION_AT_M = 14;

/** The error correction level for a text: M when the symbol stays small, else L. */
export function errorCorrectionFor(text: string): 'M' | 'L' {
  const atM = QRCode.create(text, { errorCorrectionLevel: 'M' });
  return atM.version <= MAX_VERSION_AT_M ? 'M' : 'L';
}

/** The QR code of `text` as terminal text, newline-ended. */
export async function renderQr(text: string, terminal: boolean): Promise<string> {
  const errorCorrectionLevel = errorCorrectionFor(text);
  const out = terminal
    ? await QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel })
    : await QRCode.toString(text, { type: 'utf8', errorCorrectionLevel, margin: 2 });
  return out.endsWith('\n') ? out : `${out}\n`;
}
