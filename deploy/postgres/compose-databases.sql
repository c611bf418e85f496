-- The compose trial's databases, one per service (the names Settings.from_env derives).
CREATE DATABASE registration;
CREATE DATABASE audit_ingest;
CREATE DATABASE scoring;
CREATE DATABASE billing;
CREATE DATABASE reporting;
