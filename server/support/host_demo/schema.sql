-- A sample host-app schema: the tables an ABParts-like parts-and-maintenance app keeps about machines.
-- The assistant only reads it (over a read-only connection) through the queries in mapping.yaml.
CREATE SCHEMA IF NOT EXISTS host_demo;

CREATE TABLE IF NOT EXISTS host_demo.machines (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    model            text NOT NULL,
    serial_number    text NOT NULL,
    operating_hours  numeric(10, 1) NOT NULL DEFAULT 0,
    commissioned_on  date,
    site             text
);

-- Preventive maintenance programme per model: every `interval_hours` of operation, `task`.
CREATE TABLE IF NOT EXISTS host_demo.service_intervals (
    model            text NOT NULL,
    interval_hours   integer NOT NULL,
    task             text NOT NULL,
    PRIMARY KEY (model, interval_hours)
);

CREATE TABLE IF NOT EXISTS host_demo.maintenance_records (
    id               integer PRIMARY KEY,
    machine_id       text NOT NULL REFERENCES host_demo.machines(id),
    performed_on     date NOT NULL,
    hours_at_service numeric(10, 1) NOT NULL,
    interval_hours   integer,                 -- the scheduled service done; NULL for a repair
    description      text NOT NULL,
    technician       text
);
CREATE INDEX IF NOT EXISTS maintenance_records_machine_idx ON host_demo.maintenance_records (machine_id, performed_on DESC);

CREATE TABLE IF NOT EXISTS host_demo.part_usage (
    id               integer PRIMARY KEY,
    machine_id       text NOT NULL REFERENCES host_demo.machines(id),
    maintenance_id   integer REFERENCES host_demo.maintenance_records(id),
    used_on          date NOT NULL,
    part_number      text NOT NULL,
    part_name        text NOT NULL,
    quantity         integer NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS part_usage_machine_idx ON host_demo.part_usage (machine_id, used_on DESC);
