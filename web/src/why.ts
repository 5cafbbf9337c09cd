/**
 * Why each rule's finding matters (the finding page's "Why it matters"): one or two sentences an analyst can
 * act on, beside the sensor's remediation (agent/findings/catalogue.ts) that says what to do. Keyed by the
 * rule ids of DESIGN.md §5; an unknown rule shows nothing.
 */
export const WHY: Record<string, string> = {
  "dicom.cleartext":
    "DICOM without TLS carries images and patient data readable by anyone on the path, and lets them be altered in transit.",
  "dicom.external-peer":
    "An imaging device talking DICOM to an address outside the internal networks exposes patient data and the device itself to the internet or a third party.",
  "dicom.any-ae-accepted":
    "An SCP that accepts any called or calling AE title lets any host on the network query, retrieve or store images: the AE title is its only access control.",
  "dicom.ae-scan":
    "Many associations with different AE titles from one host is what guessing valid AE titles looks like: reconnaissance before data is taken.",
  "dicom.scanner":
    "A host probing DICOM services is mapping the imaging network; unless it is an authorised test, it is an attacker or malware.",
  "dicom.cleartext-credentials":
    "A user name and passcode sent without TLS can be read on the network and reused to reach patient data as that user.",
  "dicom.bulk-query":
    "Queries that match every patient are how records are taken in bulk; legitimate workstations rarely need them.",
  "dicom.unknown-move-destination":
    "A C-MOVE to an AE title the site does not know sends images to a host that may not be the site's: a way to take data out.",
  "dicom.vulnerable-implementation":
    "The DICOM software has published vulnerabilities; an attacker who can reach the port may crash or take over the device.",
  "dicom.default-port":
    "Port 104 is the first port scanners try and needs no TLS; it shows the device to anyone who looks.",
  "net.risky-service":
    "A remote-access or file service on an imaging device is a common way in for ransomware and remote attackers.",
  "net.port-outside-profile":
    "A port the vendor does not document for this model is nothing the product needs: an extra service, a debug or maintenance port left open, or software added to the device, each a way in.",
  "dicom.malformed":
    "Malformed DICOM can be a faulty device, or an attempt to exploit a parser flaw in the receiver.",
  "tls.weak":
    "Weak TLS can be broken or impersonated: the protection it seems to give the DICOM traffic is not there.",
  "inventory.new-device":
    "A device nobody expected on the imaging network is either unrecorded equipment or an intruder; either way it is not yet managed.",
  "os.unsupported":
    "An operating system without security updates keeps every vulnerability found from now on; it is the easiest target on the network.",
  "os.vulnerable":
    "Known vulnerabilities in the operating system let malware such as ransomware spread to the device.",
  "net.smbv1":
    "SMBv1 is how WannaCry and NotPetya spread through hospital networks; it has no fix but turning it off.",
  "net.rdp-weak-security":
    "RDP without Network Level Authentication exposes the login screen and older flaws (BlueKeep) to anyone who can reach it.",
  "net.vnc-no-auth": "VNC without a password gives anyone who connects the device's screen and keyboard.",
  "net.vnc":
    "VNC sends the screen, often with patient data, and weak passwords over the network; it is a common way in.",
  "net.cleartext-login":
    "FTP and Telnet send passwords in clear: anyone on the path can read and reuse them.",
  "net.remote-access-external":
    "Remote access to an imaging device from outside the internal networks is open to password guessing and exploits from the internet.",
  "dicom.duplicate-ae-title":
    "Two hosts with one AE title break C-MOVE and storage commitment, and one of them may be impersonating the other to receive its images.",
  "baseline.new-peer":
    "A host that never used this DICOM service before can now read or write images there; it may be a new workstation, or someone who found an archive that accepts any caller.",
  "baseline.new-service":
    "A port the device did not serve or use during the baseline widens what can reach it, and is not in the firewall rules the plan made.",
  "baseline.new-operation":
    "A peer doing what it never did (a modality retrieving or querying whole archives) is how stolen credentials and misconfigured systems copy patient data out.",
};
