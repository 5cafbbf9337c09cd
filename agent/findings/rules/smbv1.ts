/**
 * net.smbv1 (issue 11): SMB1 negotiated ([MS-CIFS] 2.2.4.52: the server chose an SMB1 dialect such as
 * "NT LM 0.12", or an SMB1 SESSION_SETUP_ANDX crossed). SMB1 is how MS17-010 (EternalBlue, WannaCry)
 * spread; Microsoft deprecated it. One finding per server port, on the server: high on a DICOM device
 * (a modality or archive that still speaks SMB1 is the classic worm target), medium elsewhere.
 * Points to: close unneeded ports / disable SMBv1 (DESIGN.md §5).
 */
import type { HostObservation } from "../../observations/types.js";
import type { Rule, RuleContext } from "./context.js";
import { serviceEnds } from "./host-events.js";

export class SmbV1Rule implements Rule {
  readonly ids = ["net.smbv1"] as const;

  constructor(private readonly ctx: RuleContext) {}

  onHost(o: HostObservation): void {
    const e = o.event;
    const smb1 =
      (e.kind === "smb-negotiate" &&
        !e.request &&
        e.smb === 1 &&
        !(e.dialects[0] ?? "").startsWith("SMB 2")) ||
      e.kind === "smb1-native-os";
    if (!smb1) return;
    const ends = serviceEnds(o);
    if (ends === null) return;
    const dicom = this.ctx.inventory.isDicomDevice(ends.server);
    this.ctx.hit({
      rule: "net.smbv1",
      severity: dicom ? "high" : "medium",
      device: this.ctx.id(ends.server),
      peer: null,
      key: String(ends.server.port),
      title: `SMB1 negotiated with ${ends.server.ip} port ${ends.server.port}${dicom ? " (a DICOM device)" : ""}`,
      ts: o.tsMicros,
      flow: ends.flow,
      counts: { sessions: e.kind === "smb-negotiate" ? 1 : 0 },
      details: {
        port: ends.server.port,
        ...(e.kind === "smb-negotiate" ? { dialect: e.dialects[0] ?? null } : {}),
        ...(e.kind === "smb1-native-os" && e.nativeOs !== null ? { nativeOs: e.nativeOs } : {}),
      },
      signature: `${ends.server.port}|${dicom}`,
    });
  }
}
