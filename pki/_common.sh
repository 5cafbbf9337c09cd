# Shared helpers of the pki/ scripts (sourced, not executed).
# Every key is EC P-256 (prime256v1): small enough for a Raspberry Pi class sensor, accepted by every
# TLS 1.2+ stack that mosquitto and Node use.
set -euo pipefail
umask 077

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# Names that end up in certificate subjects, topics and ACLs: one path segment of an MQTT topic.
# MQTT wildcards (+ #), the level separator (/), spaces and control characters are refused, because the
# broker's ACL substitutes the identity into a topic pattern (see pki/mosquitto/acl).
check_name() {
  local what=$1 value=$2
  [[ $value =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    die "$what '$value' must be 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit"
}

new_ec_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}
