// SPDX-License-Identifier: MIT
// Test harness: two (or more) devices on an in-memory network with a fake clock.
import { parsePrefix } from '../src/allowedips.ts';
import { MemoryBind, MemoryNetwork } from '../src/bind-memory.ts';
import { FakeClock } from '../src/clock-fake.ts';
import type { Crypto } from '../src/crypto.ts';
import { nodeCrypto } from '../src/crypto-node.ts';
import { Device, type DeviceOptions } from '../src/device.ts';
import type { Peer } from '../src/peer.ts';
import { MemoryTun } from '../src/tun-memory.ts';

export interface Node {
  device: Device;
  tun: MemoryTun;
  bind: MemoryBind;
  address: string;
}

export class Lab {
  readonly clock = new FakeClock();
  readonly network = new MemoryNetwork();
  readonly crypto: Crypto;
  #seed = 0x2545f491;

  constructor(crypto: Crypto = nodeCrypto) {
    this.crypto = crypto;
  }

  /** Deterministic jitter source. */
  random = (): number => {
    this.#seed ^= this.#seed << 13;
    this.#seed ^= this.#seed >>> 17;
    this.#seed ^= this.#seed << 5;
    return (this.#seed >>> 0) / 0x1_0000_0000;
  };

  async node(address: string, port: number, options: DeviceOptions = {}): Promise<Node> {
    const tun = new MemoryTun();
    const bind = new MemoryBind(this.network, address);
    const device = new Device({
      crypto: this.crypto,
      clock: this.clock,
      random: this.random,
      tun,
      bind,
      ...options,
    });
    device.setPrivateKey(this.crypto.generatePrivateKey().privateKey);
    await device.setListenPort(port);
    await device.up();
    return { device, tun, bind, address };
  }

  /** Makes `b` a peer of `a` with `allowed` prefixes and, optionally, b's endpoint. */
  connect(a: Node, b: Node, allowed: string[], withEndpoint = true, psk?: Uint8Array): Peer {
    const peer = a.device.addPeer(b.device.publicKey!)!;
    for (const p of allowed) a.device.addAllowedIP(peer, parsePrefix(p));
    if (withEndpoint) {
      a.device.setEndpoint(peer, this.network.endpoint(b.address, b.device.listenPort));
    }
    if (psk) a.device.setPresharedKey(peer, psk);
    return peer;
  }

  /** Delivers datagrams and runs due zero-delay work until nothing moves (bounded). */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      const moved = this.network.deliver();
      this.clock.advance(0);
      if (moved === 0 && this.network.queued === 0) return;
    }
    throw new Error('network did not settle in 1000 rounds');
  }

  /** Advances time in steps of `step` ms, settling after each. */
  run(ms: number, step = 100): void {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t));
      this.settle();
    }
  }
}

/** A standard pair: A = 10.59.0.1 / fd59::1 at 192.0.2.1:51820, B = .2 at 198.51.100.2:51821. */
export async function pair(crypto: Crypto = nodeCrypto, psk?: Uint8Array) {
  const lab = new Lab(crypto);
  const a = await lab.node('192.0.2.1', 51820);
  const b = await lab.node('198.51.100.2', 51821);
  const peerB = lab.connect(a, b, ['10.59.0.2/32', 'fd59::2/128'], true, psk);
  const peerA = lab.connect(b, a, ['10.59.0.1/32', 'fd59::1/128'], true, psk);
  return { lab, a, b, peerA, peerB };
}

/** A transport message under `keypair` (as its sender) with a chosen 64-bit counter. */
export function sealWithCounter(
  crypto: Crypto,
  keypair: { sendKey: Uint8Array; remoteIndex: number },
  counter: bigint,
  packet: Uint8Array
): Uint8Array {
  const msg = new Uint8Array(16 + packet.length + 16);
  const view = new DataView(msg.buffer);
  view.setUint32(0, 4, true);
  view.setUint32(4, keypair.remoteIndex, true);
  view.setBigUint64(8, counter, true);
  const nonce = new Uint8Array(12);
  nonce.set(msg.subarray(8, 16), 4);
  crypto.aeadSeal(msg.subarray(16), keypair.sendKey, nonce, packet, null);
  return msg;
}
