#!/usr/bin/env bash
# A throw-away certificate authority and a server certificate for the brokers' TLS listeners,
# made with openssl at test time (nothing secret is committed). Idempotent: keeps the existing
# files while the server certificate is valid for at least another day, else makes new ones.
#
#   ./tls-certs.sh [DIR]     default DIR: interop/.state/tls (or $RMQ_TLS_DIR)
#
# Writes DIR/ca.pem (what a client trusts: `stomp ... --ca DIR/ca.pem`), DIR/ca.key,
# DIR/server.pem (CN and subjectAltName localhost, IP 127.0.0.1; signed by the CA) and
# DIR/server.key. Prints the directory on its last line. Needs openssl (installed with apt-get
# when missing and running as root).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:-${RMQ_TLS_DIR:-$HERE/.state/tls}}"
log() { echo "tls-certs: $*"; }
die() { echo "tls-certs: FAILED: $*" >&2; exit 1; }

if ! command -v openssl >/dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "openssl not found (and cannot install it)"
  log "installing openssl..."
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 install -y --no-install-recommends openssl >/dev/null 2>&1 \
    || { apt-get -q update >/dev/null 2>&1 || true
         DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 install -y --no-install-recommends openssl >/dev/null 2>&1; } \
    || die "apt-get install openssl failed"
fi

mkdir -p "$DIR"
if [ -s "$DIR/ca.pem" ] && [ -s "$DIR/server.pem" ] && [ -s "$DIR/server.key" ] \
  && openssl x509 -in "$DIR/server.pem" -noout -checkend 86400 >/dev/null 2>&1 \
  && openssl verify -CAfile "$DIR/ca.pem" "$DIR/server.pem" >/dev/null 2>&1; then
  log "OK reusing the certificates in $DIR"
  echo "$DIR"
  exit 0
fi

# Build in a temporary directory, then move into place, so a reader never sees half a set.
TMP="$(mktemp -d "$DIR/.new.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
# 1. The CA: a self-signed certificate allowed to sign others (v3, basicConstraints CA:TRUE),
#    EC P-256 keys (fast to make; rustls and Erlang's ssl both accept them).
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 30 -subj "/CN=stomp-codec interop test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>"$TMP/openssl.log" || die "CA: $(tail -1 "$TMP/openssl.log")"
# 2. The server's key and request, signed by the CA with the names clients check.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$TMP/server.key" -out "$TMP/server.csr" -subj "/CN=localhost" \
  2>"$TMP/openssl.log" || die "server request: $(tail -1 "$TMP/openssl.log")"
cat > "$TMP/server.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
EOF
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
  -out "$TMP/server.pem" -days 30 -extfile "$TMP/server.ext" \
  2>"$TMP/openssl.log" || die "signing: $(tail -1 "$TMP/openssl.log")"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/server.pem" >/dev/null 2>&1 || die "the new server certificate does not verify"
chmod 600 "$TMP/ca.key" "$TMP/server.key"
for f in ca.key server.key ca.pem server.pem; do mv -f "$TMP/$f" "$DIR/$f"; done
log "OK new CA and server certificate (localhost, 127.0.0.1; 30 days) in $DIR"
echo "$DIR"
