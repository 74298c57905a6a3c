#!/usr/bin/env bash
# Makes sure the programs the tests start are installed: influxd (InfluxDB 1.x), mosquitto and
# its clients, socat (pty pairs), openssl (a test CA), docker-compose (checks docker-compose.yml;
# no Docker engine is needed), chromium (the floor page's browser tests), ss (the broker's TCP
# keepalive, seen from the kernel's socket table), redis-server and haproxy (a cluster of hubs behind
# a TCP load balancer), python3-aiosmtpd (an SMTP server for email receivers). Installs them with apt-get when run as root;
# otherwise prints the command.
set -euo pipefail

declare -A package_of=(
  [influxd]=influxdb
  [mosquitto]=mosquitto
  [mosquitto_pub]=mosquitto-clients
  [mosquitto_sub]=mosquitto-clients
  [socat]=socat
  [openssl]=openssl
  [docker-compose]=docker-compose
  [chromium]=chromium
  [ss]=iproute2
  [redis-server]=redis-server
  [haproxy]=haproxy
  [aiosmtpd]=python3-aiosmtpd
)

missing=()
for program in "${!package_of[@]}"; do
  if ! command -v "$program" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$program" ]; then
    missing+=("${package_of[$program]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need programs that are not installed. Run, as root:" >&2
  echo "  apt-get update && apt-get install -y $packages" >&2
  exit 1
fi
echo "Installing the programs the tests start (apt-get, as root): $packages"
export DEBIAN_FRONTEND=noninteractive
# Debian's packages start their own daemons where an init system runs. The tests start their own
# on free ports, so a policy-rc.d refusing every start keeps the install from starting any, for
# the length of the install only; services already running on this machine are never touched.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages >/dev/null
echo "Installed: $packages (no service of theirs was started)."
