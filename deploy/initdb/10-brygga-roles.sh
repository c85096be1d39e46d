#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d), as the owner.
# The service's login: a member of brygga_app only, so it can read and append to the audit log but never
# change it. Migration 0004 grants brygga_app its rights (it creates the role too when it is missing).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v service_password="$BRYGGA_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE brygga_app NOLOGIN;
CREATE ROLE brygga_service LOGIN PASSWORD :'service_password' IN ROLE brygga_app;
SQL
