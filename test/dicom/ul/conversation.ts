/**
 * Whole conversations for connection tests: ordered turns of bytes per direction, built with the byte
 * builders, and a way to replay them with arbitrary cuts.
 */
import type { Direction } from "../../../agent/reassembly/types.js";
import * as b from "./builders.js";
import type { Harness } from "./harness.js";

export interface Turn {
  dir: Direction;
  bytes: Buffer;
  ts: number;
}

export const T0 = 1_700_000_000_000_000;
export const STORE_INSTANCE = "1.2.826.0.1.3680043.2.1125.1.1";

/**
 * RQ (2 presentation contexts, user identity type 1), AC (one accepted, one rejected), C-ECHO, a C-STORE
 * whose command is fragmented in two PDVs of one PDU and whose dataset spans two PDUs, the responses,
 * then release.
 */
export function storeConversation(dataset: Buffer = b.ctDataset(STORE_INSTANCE)): Turn[] {
  const rq = b.associateRq({
    callingAE: "CT_SCANNER",
    calledAE: "PACS",
    presentationContexts: [
      b.presentationContextRq(1, b.VERIFICATION, [b.IMPLICIT_VR_LE]),
      b.presentationContextRq(3, b.CT_IMAGE_STORAGE, [b.EXPLICIT_VR_LE, b.IMPLICIT_VR_LE]),
      b.presentationContextRq(5, "1.2.840.10008.5.1.4.1.1.4", [b.IMPLICIT_VR_LE]),
    ],
    userInformation: [
      b.maxLengthItem(16384),
      b.implementationClassUidItem("1.2.3.4.5.6"),
      b.implementationVersionNameItem("SCANNER_1"),
      b.userIdentityRqItem(1, false, "tech1", ""),
    ],
  });
  const ac = b.associateAc({
    callingAE: "CT_SCANNER",
    calledAE: "PACS",
    presentationContexts: [
      b.presentationContextAc(1, 0, b.IMPLICIT_VR_LE),
      b.presentationContextAc(3, 0, b.EXPLICIT_VR_LE),
      b.presentationContextAc(5, 3, b.IMPLICIT_VR_LE),
    ],
    userInformation: [
      b.maxLengthItem(32768),
      b.implementationClassUidItem("1.2.40.0.13.1.1"),
      b.implementationVersionNameItem("PACS_2"),
    ],
  });
  const echo = b.pdataTf([b.pdv(1, true, true, b.cEchoRq(1))]);
  const storeCmd = b.cStoreRq(2, b.CT_IMAGE_STORAGE, STORE_INSTANCE);
  const half = Math.floor(storeCmd.length / 2);
  const store1 = b.pdataTf([
    b.pdv(3, true, false, storeCmd.subarray(0, half)),
    b.pdv(3, true, true, storeCmd.subarray(half)),
    b.pdv(3, false, false, dataset.subarray(0, Math.min(120, dataset.length))),
  ]);
  const store2 = b.pdataTf([b.pdv(3, false, true, dataset.subarray(Math.min(120, dataset.length)))]);
  const echoRsp = b.pdataTf([b.pdv(1, true, true, b.cEchoRsp(1))]);
  const storeRsp = b.pdataTf([b.pdv(3, true, true, b.cStoreRsp(2, b.CT_IMAGE_STORAGE, STORE_INSTANCE))]);
  return [
    { dir: 0, bytes: rq, ts: T0 },
    { dir: 1, bytes: ac, ts: T0 + 1000 },
    { dir: 0, bytes: echo, ts: T0 + 2000 },
    { dir: 1, bytes: echoRsp, ts: T0 + 3000 },
    { dir: 0, bytes: Buffer.concat([store1, store2]), ts: T0 + 4000 },
    { dir: 1, bytes: storeRsp, ts: T0 + 5000 },
    { dir: 0, bytes: b.releaseRq(), ts: T0 + 6000 },
    { dir: 1, bytes: b.releaseRp(), ts: T0 + 7000 },
  ];
}

/**
 * Replays turns; `cutsAt` are offsets into the concatenation of all turns where a chunk ends. Chunks are
 * fresh copies that are scribbled over after each call, so a parser that keeps a view past the call fails.
 */
export function replay(h: Harness, turns: Turn[], cutsAt: number[] = [], closeAt?: number): void {
  const cuts = [...cutsAt].sort((x, y) => x - y);
  let base = 0;
  let ci = 0;
  for (const t of turns) {
    let p = 0;
    while (p < t.bytes.length) {
      while (ci < cuts.length && cuts[ci]! <= base + p) ci++;
      const next = ci < cuts.length ? Math.min(cuts[ci]! - base, t.bytes.length) : t.bytes.length;
      const chunk = Buffer.from(t.bytes.subarray(p, next));
      // Present it inside a larger buffer, so reads past `end` would see junk rather than stop at length.
      const host = Buffer.concat([Buffer.from([0xee, 0xee]), chunk, Buffer.alloc(7, 0x04)]);
      h.conn.data(t.dir, host, 2, 2 + chunk.length, t.ts);
      host.fill(0xaa);
      p = next;
    }
    base += t.bytes.length;
  }
  h.conn.close("fin", closeAt ?? (turns.at(-1)?.ts ?? T0) + 1);
}

export const totalLength = (turns: Turn[]): number => turns.reduce((n, t) => n + t.bytes.length, 0);
