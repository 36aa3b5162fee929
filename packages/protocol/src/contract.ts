// SPDX-License-Identifier: MIT
/**
 * The whole contract in one table: every method with the zod schema of its parameters and of
 * its result. Types are inferred from the schemas, so the server's handlers, the CLI's calls and
 * the panel's pages cannot drift from what is checked on the wire.
 * @module
 */

import type { z } from 'zod';
import { dbMethods } from './db.ts';
import { dnsMethods } from './dns.ts';
import { tunnelMethods } from './tunnel.ts';
import { webMethods } from './web.ts';

export interface MethodSchema {
  params: z.ZodType;
  result: z.ZodType;
  /** Callable without authentication (only `auth.login`). */
  public?: true;
}

export const methods = {
  ...tunnelMethods,
  ...dnsMethods,
  ...webMethods,
  ...dbMethods,
} as const satisfies Record<string, MethodSchema>;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
/** What a caller sends (before defaults and trimming). */
export type Params<M extends MethodName> = z.input<Methods[M]['params']>;
/** What a handler receives (parsed). */
export type ParsedParams<M extends MethodName> = z.output<Methods[M]['params']>;
/** What a handler returns and a caller receives. */
export type Result<M extends MethodName> = z.output<Methods[M]['result']>;

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name);
}

/** Whether a method may be called without authentication. */
export function isPublic(name: string): boolean {
  return isMethodName(name) && (methods[name] as MethodSchema).public === true;
}
