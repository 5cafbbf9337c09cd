/**
 * Differential test: dicomtap's report against Wireshark's DICOM dissector (the tshark oracle) on every
 * lab fixture, the sample capture and the third-party captures. What is compared, and the explicit
 * exceptions where tshark is wrong, are in compare.ts; the evidence is in test/oracle/README.md.
 */
import { readdirSync } from "node:fs";
import { compareWithOracle } from "./compare.js";
import { requires } from "../helpers/requires.js";

const test = requires("tshark");

const files = [
  ...readdirSync("test/fixtures/lab")
    .filter((f) => f.endsWith(".pcap"))
    .map((f) => `test/fixtures/lab/${f}`),
  "samples/imaging-room.pcap",
  ...readdirSync("../shared/captures")
    .filter((f) => f.endsWith(".pcap"))
    .map((f) => `../shared/captures/${f}`),
];

for (const file of files) {
  test(`differential: ${file}`, async (t) => {
    await compareWithOracle(t, file);
  });
}
