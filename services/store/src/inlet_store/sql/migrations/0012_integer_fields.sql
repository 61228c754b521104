-- A declared integer kind beside number: integral values of any size, kept as sent.

ALTER TABLE fields DROP CONSTRAINT fields_type_check;
ALTER TABLE fields ADD CONSTRAINT fields_type_check CHECK (type IN
    ('text', 'email', 'phone', 'number', 'integer', 'boolean', 'datetime', 'reference'));
