#!/bin/sh
# Makes the proxy's self-signed certificate, once: `make-cert.sh <dir>` writes
#   <dir>/realtime.pem   certificate + private key in one PEM (haproxy's `crt` wants them together), mode 0600
#   <dir>/realtime.crt   the certificate alone, for clients to trust (curl --cacert, NODE_EXTRA_CA_CERTS)
# and keeps an existing pair (a restart does not change the certificate clients were told to trust).
#
#   CERT_SANS    subjectAltName list (default: DNS:localhost,DNS:proxy,IP:127.0.0.1,IP:::1)
#   CERT_DAYS    validity in days (default 825, the longest browsers accept for a certificate you trust by hand)
#   CERT_OWNER   uid:gid that must read the PEM (compose: the haproxy image's user, 99:99); default: whoever runs this
#
# Used by docker-compose.yml's `certs` service and by `npm run cluster:local`. Needs the openssl CLI.
set -eu

dir=${1:?usage: make-cert.sh <output-dir>}
pem="$dir/realtime.pem"
crt="$dir/realtime.crt"
sans=${CERT_SANS:-DNS:localhost,DNS:proxy,IP:127.0.0.1,IP:::1}
days=${CERT_DAYS:-825}

if [ -s "$pem" ] && [ -s "$crt" ]; then
  echo "make-cert: keeping the existing certificate in $pem"
  exit 0
fi
command -v openssl >/dev/null 2>&1 || { echo "make-cert: the openssl CLI is missing (Debian: apt-get install -y openssl; Alpine: apk add openssl)" >&2; exit 1; }

mkdir -p "$dir"
umask 077
key=$(mktemp "$dir/.key.XXXXXX")
trap 'rm -f "$key"' EXIT
# P-256: every TLS client supports it, and it is cheaper for the proxy's handshakes than RSA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
  -days "$days" -subj "/CN=tiledesk-realtime (self-signed, local)" \
  -addext "subjectAltName=$sans" -addext "extendedKeyUsage=serverAuth" \
  -keyout "$key" -out "$crt.tmp" 2>/dev/null
cat "$crt.tmp" "$key" > "$pem.tmp"
chmod 0600 "$pem.tmp"
chmod 0644 "$crt.tmp"
if [ -n "${CERT_OWNER:-}" ]; then chown "$CERT_OWNER" "$pem.tmp" "$crt.tmp"; fi
mv "$crt.tmp" "$crt"
mv "$pem.tmp" "$pem"
echo "make-cert: wrote a self-signed certificate for $sans to $pem (trust $crt in clients)"
