/**
 * Waits on real conditions — a line, a file, a port, a count — instead of fixed sleeps. Each has a timeout
 * that rejects with what was waited for (and what was seen), which fails the test with that message.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { Readable } from "node:stream";
import dgram from "node:dgram";
import { randomBytes } from "node:crypto";

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond()` is true; polls every `everyMs`; rejects after `timeoutMs` saying `what`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 10_000, everyMs = 20 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await pause(everyMs);
  }
}

/**
 * Resolves with everything read so far once a line of `stream` matches `re` (e.g. tcpdump's stderr and
 * /listening on/); rejects when the stream ends first or after `timeoutMs`.
 */
export function waitForLine(stream: Readable, re: RegExp, what: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      stream.off("data", onData);
      stream.off("end", onEnd);
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (d: Buffer | string): void => {
      text += d.toString();
      if (text.split("\n").some((l) => re.test(l))) done(null);
    };
    const onEnd = (): void =>
      done(new Error(`${what}: the stream ended before ${re}; it said: ${text.trim()}`));
    const timer = setTimeout(
      () =>
        done(new Error(`gave up after ${timeoutMs} ms waiting for ${what} (${re}); seen: ${text.trim()}`)),
      timeoutMs,
    );
    stream.on("data", onData);
    stream.once("end", onEnd);
  });
}

/** Resolves once something accepts TCP connections on host:port. */
export function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const open = (): Promise<boolean> =>
    new Promise((resolve) => {
      const c = connect(port, host);
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
  return waitFor(open, `something listening on ${host}:${port}`, { timeoutMs, everyMs: 50 });
}

/**
 * For a capture written in order (tcpdump -U) whose filter also takes `udp port PORT`: sends a datagram
 * with a unique token to 127.0.0.1:PORT and resolves once the token is in `file`, so every packet captured
 * before it is in the file too (however libpcap hands them over: in blocks, it is within its 1 s timeout).
 * Then the capture can be stopped.
 */
export async function captureEndMarker(file: string, port: number, timeoutMs = 10_000): Promise<void> {
  const token = `dicomtap-capture-end-${randomBytes(6).toString("hex")}`;
  const sock = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) =>
      sock.send(token, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
    );
  } finally {
    sock.close();
  }
  await waitFor(() => readFileSync(file).includes(token), `the end marker in ${file}`, { timeoutMs });
}
