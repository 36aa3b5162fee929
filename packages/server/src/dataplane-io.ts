// SPDX-License-Identifier: MIT
/**
 * How the data-plane thread opens its device (`DataplaneIo`, used by `DataplaneEngine`):
 * `linuxIo` creates the TUN interface, the UDP port and the UAPI socket as the in-process data
 * plane of `@start-tunnel/tunnel` did, with the same error messages; `memoryIo` uses wg-core's
 * memory TUN and UDP fakes, so the thread can be tested without root.
 * @module
 */

import {
  Device,
  LinuxTun,
  type Logger,
  MemoryBind,
  MemoryNetwork,
  MemoryTun,
  UapiServer,
  UdpBind,
} from '@start-tunnel/wg-core';
import type { DataplaneIo, OpenDevice } from './dataplane-engine.ts';
import { messageOf, type StartConfig } from './dataplane-protocol.ts';

/** TUN, UDP port and UAPI socket, as the in-process data plane of `@start-tunnel/tunnel` did. */
export const linuxIo: DataplaneIo = {
  async open(config: StartConfig, privateKey: Uint8Array, logger: Logger): Promise<OpenDevice> {
    const name = config.interface;
    let tun: LinuxTun;
    try {
      tun = await LinuxTun.create(name, config.mtu ? { mtu: config.mtu } : {});
    } catch (err) {
      throw new Error(`Cannot create the TUN interface "${name}": ${messageOf(err)}`);
    }
    let device: Device;
    try {
      device = new Device({ tun, bind: new UdpBind(), logger, workers: config.workers });
      device.setPrivateKey(privateKey);
      await device.setListenPort(config.listenPort);
    } catch (err) {
      await tun.close();
      throw err;
    }
    // like wireguard-go: the socket opens when the link comes up and closes when it goes down
    tun.setEventHandler((event) => {
      if (event.type === 'up') {
        device.up().catch((err) => logger.error(`Cannot bring ${name} up: ${messageOf(err)}`));
      } else if (event.type === 'down') {
        device.down().catch(() => {});
      }
    });
    tun.setUp(true);
    try {
      await device.up();
    } catch (err) {
      await device.close().catch(() => {});
      await tun.close().catch(() => {});
      throw new Error(`Cannot open UDP port ${config.listenPort} for WireGuard: ${messageOf(err)}`);
    }
    let uapi: UapiServer | null = null;
    if (config.uapi) {
      try {
        uapi = await UapiServer.listen(device, tun.name, { log: (m) => logger.verbose(m) });
      } catch (err) {
        logger.error(`No UAPI socket (wg show will not work): ${messageOf(err)}`);
      }
    }
    return {
      device,
      interface: tun.name,
      uapiPath: uapi?.path ?? null,
      async close() {
        await uapi?.close().catch(() => {});
        await device.close().catch(() => {});
        await tun.close().catch(() => {});
      },
    };
  },
};

/** wg-core's memory fakes: a device with no system side at all (tests). */
export const memoryIo: DataplaneIo = {
  async open(config: StartConfig, privateKey: Uint8Array, logger: Logger): Promise<OpenDevice> {
    const tun = new MemoryTun(config.interface, config.mtu);
    const bind = new MemoryBind(new MemoryNetwork(), '192.0.2.1');
    const device = new Device({ tun, bind, logger, workers: config.workers });
    device.setPrivateKey(privateKey);
    await device.setListenPort(config.listenPort);
    await device.up();
    return {
      device,
      interface: tun.name,
      uapiPath: null,
      close: () => device.close(),
    };
  },
};
