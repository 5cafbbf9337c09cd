#!/usr/bin/env bash
# test/tls/tls-capture.sh OUTDIR
# Real DICOM-TLS-port handshakes made by openssl s_server/s_client in a throw-away network namespace and
# captured by tcpdump on its loopback, for the TLS golden test. Writes OUTDIR/tls.pcap with:
#   port 2762   TLS 1.2, self-signed certificate (CN=pacs.test)
#   port 11112  TLS 1.2, certificate signed by a test CA, expired (2020-01-01 .. 2021-01-01)
#   port 4242   TLS 1.3, certificate signed by the test CA (its certificate is encrypted on the wire)
#   port 104    TLS 1.2, certificate signed by the test CA, current (nothing weak)
# and on port 2762 of more loopback addresses (other servers):
#   127.0.0.2   TLS 1.2, CA-signed current certificate with a 1024-bit RSA key
#   127.0.0.3   TLS 1.2, anonymous suite (no certificate; aNULL)
#   127.0.0.4   server TLS 1.2 only, client TLS 1.3 only: the server's fatal protocol_version alert
#   127.0.0.5   TLS 1.2, TLS_RSA_WITH_NULL_SHA256 (no encryption), a line of text sent in clear
# Needs root, iproute2, tcpdump, openssl. Cleans up from a trap.
set -euo pipefail
. "$(dirname "$0")/../helpers/capture.sh"
out=${1:?usage: tls-capture.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ns="dtinvtls-$(printf '%04x' $(( (RANDOM ^ $$) & 0xffff )))"
tmp=$(mktemp -d "/tmp/$ns.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
q() { openssl "$@" >/dev/null 2>&1; }
q req -x509 -newkey rsa:2048 -nodes -keyout ss.key -out ss.crt -days 2 -subj /CN=pacs.test
q req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=Test CA"
q req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=leaf.test
q x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out leaf.crt
printf '[ca]\ndefault_ca=c\n[c]\ndir=.\ndatabase=./index.txt\nnew_certs_dir=.\nserial=./serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' >ca.cnf
: >index.txt
echo 01 >serial
q req -newkey rsa:2048 -nodes -keyout old.key -out old.csr -subj /CN=old.test
q ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -startdate 20200101000000Z -enddate 20210101000000Z -in old.csr -out old.crt -notext
q req -newkey rsa:1024 -nodes -keyout small.key -out small.csr -subj /CN=small.test
q x509 -req -in small.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out small.crt

ip netns add "$ns"
ip -n "$ns" link set lo up
server() { # [HOST:]PORT ARGS... (s_server options)
  local at=$1
  shift
  ip netns exec "$ns" openssl s_server -quiet -accept "$at" "$@" >"$tmp/server-${at//:/_}.log" 2>&1 </dev/null &
  pids+=($!)
}
# Debian's OpenSSL defaults to security level 2, which refuses 1024-bit keys, anonymous and NULL suites.
weak=DEFAULT:@SECLEVEL=0
# Each server on its own address: a wildcard listener on 2762 would take the other addresses' connections.
server 127.0.0.1:2762 -cert ss.crt -key ss.key -tls1_2
server 127.0.0.1:11112 -cert old.crt -key old.key -tls1_2
server 127.0.0.1:4242 -cert leaf.crt -key leaf.key -tls1_3
server 127.0.0.1:104 -cert leaf.crt -key leaf.key -tls1_2
server 127.0.0.2:2762 -cert small.crt -key small.key -tls1_2 -cipher "$weak"
server 127.0.0.3:2762 -nocert -tls1_2 -cipher "aNULL:@SECLEVEL=0"
server 127.0.0.4:2762 -cert leaf.crt -key leaf.key -tls1_2
server 127.0.0.5:2762 -cert leaf.crt -key leaf.key -tls1_2 -cipher "NULL-SHA256:@SECLEVEL=0"
ready() { ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
all_ready() {
  ready 127.0.0.1 2762 && ready 127.0.0.1 11112 && ready 127.0.0.1 4242 && ready 127.0.0.1 104 &&
    ready 127.0.0.2 2762 && ready 127.0.0.3 2762 && ready 127.0.0.4 2762 && ready 127.0.0.5 2762
}
wait_for 20 "the openssl servers" all_ready

capture_start "$ns" "$out/tls.pcap" "$tmp/tcpdump.log" 'tcp port 2762 or tcp port 11112 or tcp port 4242 or tcp port 104'
pids+=("$CAPTURE_PID")
client() { # HOST:PORT ARGS... (s_client options); stdin is what it sends
  ip netns exec "$ns" timeout 10 openssl s_client -connect "$@" >"$tmp/client-${1//:/_}.log" 2>&1 || true
}
for port in 2762 11112 4242 104; do client "127.0.0.1:$port" </dev/null; done
client 127.0.0.2:2762 -cipher "$weak" </dev/null
client 127.0.0.3:2762 -cipher "aNULL:@SECLEVEL=0" </dev/null
client 127.0.0.4:2762 -tls1_3 </dev/null
echo "not DICOM, but readable" | client 127.0.0.5:2762 -cipher "NULL-SHA256:@SECLEVEL=0"
capture_stop "$ns" "$out/tls.pcap"
