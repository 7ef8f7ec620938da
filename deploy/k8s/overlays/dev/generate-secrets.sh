#!/bin/sh
# Writes secrets/*.env with fresh random passwords, consistent across the files. Keeps existing files.
set -eu
cd "$(dirname "$0")/secrets"
rand() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
AUTH=$(rand) BUS=$(rand) S3ROOT=$(rand) S3APP=$(rand) DBROOT=$(rand) DBAPP=$(rand)
for example in *.env.example; do
  target=${example%.example}
  [ -e "$target" ] && { echo "kept $target"; continue; }
  (umask 077; sed -e "s/replace-with-48-random-characters/$AUTH/" \
    -e "/RABBITMQ\|amqp/s/\([=:]\)APP_PASSWORD/\1$BUS/" -e "/mongodb\|^APP_PASSWORD/s/\([=:]\)APP_PASSWORD/\1$DBAPP/" \
    -e "s/APP_SECRET/$S3APP/" -e "/MINIO/s/ROOT_PASSWORD/$S3ROOT/" -e "/MONGO/s/ROOT_PASSWORD/$DBROOT/" \
    "$example" > "$target")
  echo "wrote $target"
done
