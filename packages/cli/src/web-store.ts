// SPDX-License-Identifier: MIT
/**
 * The panel's `WebStore` (`@start-tunnel/web`) on the daemon's state: the opaque `web` section
 * that `DaemonContext.webSection` reads and updates durably (`packages/tunnel/src/daemon.ts`).
 * A fresh install has no section (`null`): it reads as `emptyWebData()`. An update applies the
 * panel's function to a `structuredClone` of the current data (the stored object is never
 * mutated, so a refused change leaves it as it was) and stores what comes out; it resolves once
 * the daemon has committed it. `beforeCommit` sees every new value inside the daemon's change,
 * before the change is checked and committed: the daemon extension uses it to reserve the
 * panel's port in the same step (`web-extension.ts`).
 * @module
 */

import type { DaemonContext } from '@start-tunnel/tunnel';
import { emptyWebData, type WebData, type WebStore } from '@start-tunnel/web';

export type WebSection = DaemonContext['webSection'];

export interface WebSectionStoreOptions {
  /**
   * Called with the new and the previous data inside the daemon's change, before it is checked
   * and committed; throwing refuses the change.
   */
  beforeCommit?: (next: WebData, previous: WebData) => void;
}

/** The stored section as `WebData`; a missing section (or missing parts) read as empty. */
export function webDataOf(section: Record<string, unknown> | null): WebData {
  if (section === null) return emptyWebData();
  const empty = emptyWebData();
  const data = section as Partial<WebData>;
  // Every part present is returned as stored (same object), so reads cost nothing.
  if (
    data.webserver !== undefined &&
    data.password !== undefined &&
    data.keys !== undefined &&
    data.sessions !== undefined
  ) {
    return section as unknown as WebData;
  }
  return { ...empty, ...data } as WebData;
}

/** A `WebStore` over the daemon's `web` section. */
export function webSectionStore(
  section: WebSection,
  options: WebSectionStoreOptions = {}
): WebStore {
  let cachedFrom: Record<string, unknown> | null | undefined;
  let cached: WebData = emptyWebData();
  return {
    read(): WebData {
      const raw = section.read();
      // the empty value is made once per stored value, so repeated reads see one object
      if (raw !== cachedFrom || cachedFrom === undefined) {
        cachedFrom = raw;
        cached = webDataOf(raw);
      }
      return cached;
    },
    // biome-ignore lint/suspicious/noConfusingVoidType: the WebStore updater mutates or replaces
    async update(fn: (data: WebData) => void | WebData): Promise<void> {
      await section.update((current) => {
        const previous = webDataOf(current);
        const draft = structuredClone(previous);
        const next = fn(draft) ?? draft;
        options.beforeCommit?.(next, previous);
        return next as unknown as Record<string, unknown>;
      });
    },
  };
}
