/**
 * File writers that get permissions right (secrets 0600 in 0700 directories),
 * and the tail of a log.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeSecret(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function writePublic(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, text, { mode: 0o644 });
}

/** The last `lines` lines of a text file (a log); none when it cannot be read. */
export function tailLines(path: string, lines: number): string[] {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text === '' ? [] : text.split('\n').slice(-lines);
  } catch {
    return [];
  }
}
