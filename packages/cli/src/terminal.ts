// SPDX-License-Identifier: MIT
/**
 * What the interactive commands (`web init`, `auth set-password`, `web import-certificate`) read
 * from the user: questions on a terminal (asked on stderr, so stdout stays the command's result;
 * passwords without echo), or else stdin as a whole. `processTerminal()` is the process's;
 * tests pass a scripted one through `CliIo.terminal`.
 * @module
 */

import { createInterface } from 'node:readline';
import { CliError } from './errors.ts';

/** Largest input read from stdin (a key and a certificate chain fit many times over). */
export const MAX_STDIN_BYTES = 1 << 20;

export interface AskOptions {
  /** Do not echo what is typed (passwords). */
  hidden?: boolean;
}

export interface Terminal {
  /** Whether stdin is a terminal, so questions can be asked. */
  readonly isTTY: boolean;
  /** Shows `question` and reads one line (without its line end). Rejects at end of input. */
  ask(question: string, options?: AskOptions): Promise<string>;
  /** Everything on stdin, as UTF-8 text. */
  readAll(): Promise<string>;
}

/** The first line of a text, without its line end (what `echo secret |` gives). */
export function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

/** The user ended the input (Ctrl-C, Ctrl-D, a closed stdin): nothing to ask again. */
export class InputEnded extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'InputEnded';
  }
}

const INTERRUPTED = 'interrupted';
const NO_INPUT = 'no answer: the input ended';

function askVisible(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let answered = false;
    rl.on('SIGINT', () => {
      rl.close();
      process.stderr.write('\n');
      reject(new InputEnded(INTERRUPTED));
    });
    rl.on('close', () => {
      if (!answered) reject(new InputEnded(NO_INPUT));
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
  });
}

/** Reads a line in raw mode, echoing nothing; Backspace, Ctrl-U, Ctrl-C and Ctrl-D work. */
function askHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let value = '';
  return new Promise((resolve, reject) => {
    const finish = (err?: InputEnded) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new InputEnded(INTERRUPTED));
        if (ch === '\u0004') {
          if (value === '') return finish(new InputEnded(NO_INPUT));
        } else if (ch === '\u007f' || ch === '\b') {
          value = [...value].slice(0, -1).join('');
        } else if (ch === '\u0015') {
          value = '';
        } else if (ch >= ' ') {
          value += ch;
        }
      }
    };
    stdin.on('data', onData);
  });
}

/** Reads a stream to its end, refusing more than `MAX_STDIN_BYTES`. */
export async function readStream(stream: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > MAX_STDIN_BYTES) {
      throw new CliError(`the input on stdin is larger than ${MAX_STDIN_BYTES} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The process's terminal. */
export function processTerminal(): Terminal {
  const isTTY = process.stdin.isTTY === true;
  return {
    isTTY,
    ask(question, options = {}) {
      if (!isTTY) return Promise.reject(new CliError('cannot ask: stdin is not a terminal'));
      return options.hidden ? askHidden(question) : askVisible(question);
    },
    readAll: () => readStream(process.stdin),
  };
}
