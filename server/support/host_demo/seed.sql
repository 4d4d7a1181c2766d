-- Seed data of the sample host schema (idempotent: fixed ids, ON CONFLICT DO NOTHING).
-- Dates are relative to the day the seed first runs.
INSERT INTO host_demo.machines (id, name, model, serial_number, operating_hours, commissioned_on, site) VALUES
    ('AB-1001', 'AutoBoss V4', 'AutoBoss V4', 'V4-2021-0342', 1240, current_date - 700, 'Farm Nordvik, pen 3'),
    ('AB-2002', 'AutoBoss M6', 'AutoBoss M6', 'M6-2023-0117', 2980, current_date - 540, 'Farm Kalymnos, pen 1')
ON CONFLICT DO NOTHING;

INSERT INTO host_demo.service_intervals (model, interval_hours, task) VALUES
    ('AutoBoss V4', 250,  'Inspect the brushes and nozzles, clean the pump inlet strainer, grease the winch'),
    ('AutoBoss V4', 500,  '250 h tasks, plus replace the hydraulic oil filter and check the umbilical cable'),
    ('AutoBoss V4', 1000, '500 h tasks, plus replace the pump seals and inspect every hose and coupling'),
    ('AutoBoss V4', 2000, '1000 h tasks, plus replace the hydraulic oil and overhaul the winch brake'),
    ('AutoBoss M6', 250,  'Inspect the brush discs and wheels, clean the pump inlet strainer, check the depth sensor'),
    ('AutoBoss M6', 500,  '250 h tasks, plus replace the hydraulic oil filter and check the power cable glands'),
    ('AutoBoss M6', 1000, '500 h tasks, plus replace the pump seals and the wheel bearings'),
    ('AutoBoss M6', 2000, '1000 h tasks, plus replace the hydraulic oil and service the control unit')
ON CONFLICT DO NOTHING;

INSERT INTO host_demo.maintenance_records (id, machine_id, performed_on, hours_at_service, interval_hours, description, technician) VALUES
    (1,  'AB-1001', current_date - 610, 252,  250,  '250 h service', 'K. Nilsen'),
    (2,  'AB-1001', current_date - 500, 498,  500,  '500 h service, hydraulic filter replaced', 'K. Nilsen'),
    (3,  'AB-1001', current_date - 330, 760,  250,  '250 h service', 'A. Berg'),
    (4,  'AB-1001', current_date - 170, 1003, 1000, '1000 h service, pump seals and brush set replaced', 'K. Nilsen'),
    (5,  'AB-1001', current_date - 40,  1180, NULL, 'Repair: brush motor cable damaged by a net snag, cable replaced', 'A. Berg'),
    (11, 'AB-2002', current_date - 520, 251,  250,  '250 h service', 'G. Papadakis'),
    (12, 'AB-2002', current_date - 470, 502,  500,  '500 h service', 'G. Papadakis'),
    (13, 'AB-2002', current_date - 420, 747,  250,  '250 h service', 'G. Papadakis'),
    (14, 'AB-2002', current_date - 370, 1010, 1000, '1000 h service, wheel bearings replaced', 'M. Ioannou'),
    (15, 'AB-2002', current_date - 320, 1240, 250,  '250 h service', 'G. Papadakis'),
    (16, 'AB-2002', current_date - 270, 1495, 500,  '500 h service', 'G. Papadakis'),
    (17, 'AB-2002', current_date - 220, 1760, 250,  '250 h service', 'M. Ioannou'),
    (18, 'AB-2002', current_date - 170, 1985, 2000, '2000 h service, hydraulic oil replaced', 'M. Ioannou'),
    (19, 'AB-2002', current_date - 120, 2230, 250,  '250 h service', 'G. Papadakis'),
    (20, 'AB-2002', current_date - 70,  2440, 500,  '500 h service', 'G. Papadakis'),
    (21, 'AB-2002', current_date - 25,  2700, 250,  '250 h service', 'M. Ioannou'),
    (22, 'AB-2002', current_date - 12,  2905, NULL, 'Repair: depth sensor reading erratic, sensor replaced', 'M. Ioannou')
ON CONFLICT DO NOTHING;

INSERT INTO host_demo.part_usage (id, machine_id, maintenance_id, used_on, part_number, part_name, quantity) VALUES
    (1,  'AB-1001', 2,    current_date - 500, 'HF-220',  'Hydraulic oil filter', 1),
    (2,  'AB-1001', 4,    current_date - 170, 'PS-3310', 'Pump seal kit', 1),
    (3,  'AB-1001', 4,    current_date - 170, 'BR-4410', 'Brush set, V4', 2),
    (4,  'AB-1001', 4,    current_date - 170, 'HF-220',  'Hydraulic oil filter', 1),
    (5,  'AB-1001', 5,    current_date - 40,  'CB-7711', 'Brush motor cable, 4 m', 1),
    (11, 'AB-2002', 14,   current_date - 370, 'WB-6020', 'Wheel bearing', 4),
    (12, 'AB-2002', 18,   current_date - 170, 'HO-46-20', 'Hydraulic oil ISO 46, 20 l', 2),
    (13, 'AB-2002', 18,   current_date - 170, 'HF-260',  'Hydraulic oil filter, M6', 1),
    (14, 'AB-2002', 20,   current_date - 70,  'HF-260',  'Hydraulic oil filter, M6', 1),
    (15, 'AB-2002', 22,   current_date - 12,  'DS-9105', 'Depth sensor', 1),
    (16, 'AB-2002', NULL, current_date - 5,   'BD-6610', 'Brush disc, M6', 2)
ON CONFLICT DO NOTHING;
