// SPDX-License-Identifier: MIT
// The fixed inputs of the golden handshake: every secret and every random choice injected.
import { FakeClock } from '../src/clock-fake.ts';
import type { Crypto } from '../src/crypto.ts';
import { Device } from '../src/device.ts';

const fill = (start: number) => Uint8Array.from({ length: 32 }, (_, i) => (start + i * 7) & 0xff);

export const GOLDEN = {
  initiatorStatic: fill(0x11),
  responderStatic: fill(0x22),
  initiatorEphemeral: fill(0x33),
  responderEphemeral: fill(0x44),
  presharedKey: fill(0x55),
  /** 2026-01-01T00:00:00Z */
  wallTime: Date.UTC(2026, 0, 1),
  initiatorIndex: 0x11223344,
  responderIndex: 0x55667788,
};

/** Two devices configured with the golden inputs, peers of each other (no I/O attached). */
export function goldenDevices(crypto: Crypto, psk = true) {
  const clock = new FakeClock(1_000_000, GOLDEN.wallTime);
  const initiator = new Device({
    crypto,
    clock,
    generateEphemeral: () => crypto.importPrivateKey(GOLDEN.initiatorEphemeral),
    randomIndex: () => GOLDEN.initiatorIndex,
  });
  const responder = new Device({
    crypto,
    clock,
    generateEphemeral: () => crypto.importPrivateKey(GOLDEN.responderEphemeral),
    randomIndex: () => GOLDEN.responderIndex,
  });
  initiator.setPrivateKey(GOLDEN.initiatorStatic);
  responder.setPrivateKey(GOLDEN.responderStatic);
  const peerR = initiator.addPeer(responder.publicKey!)!;
  const peerI = responder.addPeer(initiator.publicKey!)!;
  if (psk) {
    initiator.setPresharedKey(peerR, GOLDEN.presharedKey);
    responder.setPresharedKey(peerI, GOLDEN.presharedKey);
  }
  return { clock, initiator, responder, peerR, peerI };
}
