// SPDX-License-Identifier: MIT
/**
 * Every JSON-RPC method the command line calls: the tunnel's `Methods` (`protocol.ts`) and the
 * panel's `WebMethods` (`auth.*`, `web.*`, declared by `@start-tunnel/web` beside its handlers).
 * @module
 */

import type { Methods } from '@start-tunnel/tunnel';
import type { WebMethods } from '@start-tunnel/web';

export type AllMethods = Methods & WebMethods;
export type AnyMethodName = keyof AllMethods;
