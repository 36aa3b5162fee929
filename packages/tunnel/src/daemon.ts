// SPDX-License-Identifier: MIT
/**
 * The daemon (placeholder while the control plane is written).
 * @module
 */

export interface DaemonOptions {
  /** Data directory (default `/var/lib/start-tunnel`). */
  dataDir: string;
  /** TUN interface name (default `wg-start-tunnel`). */
  interface: string;
  /** WireGuard UDP port (default 51820). */
  listenPort: number;
  /** Local API `IP:PORT` (default `127.0.59.60:5960`). */
  apiListen: string;
  /** WAN IP override given on the command line (else the stored one, else detection). */
  wanIp?: string;
  /** Log sink (default stderr). */
  log?: (line: string) => void;
}
