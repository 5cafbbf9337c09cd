# Signing with the site CA (sourced by sign-csr, make-broker-cert and make-console-cert).

# sign_with_ca CADIR CSR OUT SUBJECT EXTENSIONS [--days N | --expired | --start T --end T]
# Times T are YYYYMMDDHHMMSSZ (UTC), as `openssl ca -startdate/-enddate` take them.
sign_with_ca() {
  local cadir=$1 csr=$2 out=$3 subj=$4 ext=$5
  shift 5
  local days=825 start="" end=""
  while [[ $# -gt 0 ]]; do
    case $1 in
      --days) days=${2:?--days needs a number}; shift 2 ;;
      --expired)
        # Valid for one day that ended yesterday. OpenSSL 3.0's `x509 -req` cannot backdate
        # (-not_before came in 3.4), `openssl ca` can.
        start=$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)
        end=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
        shift ;;
      --start) start=${2:?--start needs a time}; shift 2 ;;
      --end) end=${2:?--end needs a time}; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  local dates=(-days "$days")
  [[ -n $start ]] && dates+=(-startdate "$start")
  [[ -n $end ]] && dates=(-enddate "$end" ${start:+-startdate "$start"})
  local log
  log=$(mktemp)
  # EXTFILE (optional): a file holding the extension section, for per-certificate values like the SAN.
  if ! openssl ca -batch -notext -config "$cadir/ca.cnf" ${EXTFILE:+-extfile "$EXTFILE"} -extensions "$ext" \
    -in "$csr" -out "$out" \
    -subj "$subj" -utf8 "${dates[@]}" 2>"$log"; then
    cat "$log" >&2
    rm -f "$log"
    die "signing failed"
  fi
  rm -f "$log"
  chmod 644 "$out"
}
