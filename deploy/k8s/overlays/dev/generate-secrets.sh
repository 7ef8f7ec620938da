#!/bin/sh
# Writes secrets/*.env from the *.env.example beside them, each GENERATE replaced by a fresh random
# value (48 hex characters, URL-safe), one value a file: a file's URLs share their service's
# password. No value is needed in two files: each service's own files hold its logins, and the
# stores' setup reads them from there. Keeps files that exist (delete one to make it again; the
# setup then changes that login's password).
set -eu
cd "$(dirname "$0")/secrets"
rand() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
for example in *.env.example; do
  target=${example%.example}
  [ -e "$target" ] && { echo "kept $target"; continue; }
  (umask 077; sed "s/GENERATE/$(rand)/g" "$example" > "$target")
  echo "wrote $target"
done
