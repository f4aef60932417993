#!/usr/bin/env bash
# Regenerates the test-only TLS material used by tests/serve.rs: a CA, a server certificate for
# localhost/127.0.0.1 and a client certificate, P-256, valid for 100 years. The CA key is
# discarded. Never use these files outside tests.
set -euo pipefail
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -days 36500 -subj "/CN=autopilot-sdk test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n" > server.ext
printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n" > client.ext
for who in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$who.key" -out "$who.csr" \
    -subj "/CN=autopilot-sdk test $who"
  openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$who.crt" \
    -days 36500 -extfile "$who.ext"
done
rm -f ./*.csr ./*.ext ca.srl ca.key
