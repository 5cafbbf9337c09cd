/** The usage text of `dicomtap baseline` (apart from its code, so that `--help` loads no store). */
export const BASELINE_USAGE = `usage: dicomtap baseline export [--config FILE] [--store DB] [--out FILE|-]
                        | import FILE [--config FILE] [--store DB]
                        | approve [--by NAME] [--note TEXT] [--config FILE] [--store DB]

The baseline the agent learned over its learning window (policy.learning.days): per DICOM service
the peers and AE titles that used it and what for, per device its listening ports and the services
it used. Review it, edit it, approve it; an approved baseline is also the policy (knownAeTitles,
allowedPeers, approvedPorts, services), merged with the config's.

  export    writes the stored baseline as JSON (schemas/baseline.schema.json) to --out (default -,
            standard output)
  import    validates FILE and stores it in place of the stored baseline; a document that is not
            valid is refused with every reason, and the store is not changed
  approve   marks the stored baseline approved, by NAME (default the user running it) with a note

The agent takes an imported or approved baseline up at its next start (systemctl restart dicomtap):
from then on an approved one's policy is in force. A running agent goes on with the baseline it has
in memory and leaves the stored one alone.

options:
  --config FILE   the sensor config: the store's path and the sensor's site and id (default
                  /etc/dicomtap/config.json when --store is not given)
  --store DB      the agent's store (default: the config's store.path)
  --out FILE      where export writes (- for standard output)
  --by NAME       who approves
  --note TEXT     why, or what was reviewed
  -h, --help      this text

exit status:
  0  done
  1  no baseline stored, the store cannot be opened, or the document was refused
  2  a usage error or a config error
`;
