/**
 * A small CT image file for storescu, made with dcmtk's dump2dcm from a text dump (explicit VR little
 * endian): fake patient, fixed UIDs under `root` (instance .1, study .2, series .3), no pixel data.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function ctFile(dir: string, o: { root: string; patientName: string; patientId?: string }): string {
  const dump = join(dir, "ct.dump");
  const dcm = join(dir, "ct.dcm");
  writeFileSync(
    dump,
    [
      "(0002,0001) OB 00\\01",
      "(0002,0002) UI =CTImageStorage",
      `(0002,0003) UI [${o.root}.1]`,
      "(0002,0010) UI =LittleEndianExplicit",
      "(0008,0016) UI =CTImageStorage",
      `(0008,0018) UI [${o.root}.1]`,
      "(0008,0060) CS [CT]",
      `(0010,0010) PN [${o.patientName}]`,
      ...(o.patientId !== undefined ? [`(0010,0020) LO [${o.patientId}]`] : []),
      `(0020,000d) UI [${o.root}.2]`,
      `(0020,000e) UI [${o.root}.3]`,
      "",
    ].join("\n"),
  );
  const r = spawnSync("dump2dcm", ["+te", dump, dcm], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`dump2dcm failed: ${r.stderr}`);
  return dcm;
}
