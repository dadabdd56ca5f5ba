-- job_status_text: the text of each alert code; job_log.status holds these texts.
CREATE TABLE @extschema@.job_status_text (
    alert_code integer CONSTRAINT job_status_text_alert_code_pkey PRIMARY KEY,
    alert_text text NOT NULL
);

INSERT INTO @extschema@.job_status_text (alert_code, alert_text) VALUES
    (1, 'OK'),
    (2, 'WARNING'),
    (3, 'CRITICAL');

-- The shipped rows come with the extension; only added codes are the user's data.
SELECT pg_catalog.pg_extension_config_dump(
    '@extschema@.job_status_text', 'WHERE alert_code NOT IN (1, 2, 3)'
);
