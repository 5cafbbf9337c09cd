/**
 * Step 2's "ports outside the device's profile" (issue 13): the device profiles (agent/profiles, the site's
 * policy.profiles before the shipped data/model-profiles.json) as the plan builder's hook, one entry per
 * listening port the vendor does not document.
 */
import type { ModelProfile } from "../profiles/profiles.js";
import { portsOutsideProfile, profileLabel } from "../profiles/profiles.js";
import type { DeviceRecord } from "../report/types.js";
import type { OutsideProfile } from "./build.js";

export function outsideProfile(siteProfiles: readonly ModelProfile[]): (d: DeviceRecord) => OutsideProfile[] {
  return (d) => {
    const r = portsOutsideProfile(d, siteProfiles);
    if (r === null) return [];
    const label = `${profileLabel(r.profile)} (${r.profile.source.title})`;
    return r.ports.map((port) => ({ port, profile: label }));
  };
}
