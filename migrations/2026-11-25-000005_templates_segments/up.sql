-- Segment rules can ask for the birthday month, the locale and the sign-up date.
ALTER TABLE customers ADD COLUMN birthday DATE;
CREATE INDEX customers_created_at ON customers (created_at);
CREATE INDEX customers_locale ON customers (locale);
CREATE INDEX customers_birthday_month ON customers ((EXTRACT(MONTH FROM birthday)));

-- Reusable content: `body` (and for e-mail `subject` and `html_body`) are minijinja templates;
-- `variables` lists the variables they use, computed when saved.
CREATE TABLE content_templates (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'push_notification')),
    subject     TEXT,
    body        TEXT NOT NULL,
    html_body   TEXT,
    variables   TEXT[] NOT NULL DEFAULT '{}',
    created_by  UUID NOT NULL,
    updated_by  UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX content_templates_created ON content_templates (created_at DESC, id DESC);

-- Saved audiences: a JSON rule compiled to one parameterised query when used.
CREATE TABLE segments (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description TEXT NOT NULL DEFAULT '',
    rule        JSONB NOT NULL,
    created_by  UUID NOT NULL,
    updated_by  UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX segments_created ON segments (created_at DESC, id DESC);

-- A/B tests: 2–5 variants, each with its own content or template and a share of the audience.
ALTER TABLE marketing_campaign ADD COLUMN variants JSONB NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX marketing_campaign_template ON marketing_campaign (content_template_id)
    WHERE content_template_id IS NOT NULL;
CREATE INDEX marketing_campaign_segment ON marketing_campaign (target_segment_id)
    WHERE target_segment_id IS NOT NULL;
-- The variant a record's recipient got.
ALTER TABLE marketing_record ADD COLUMN variant TEXT;
-- The content an execution sends, frozen at trigger time (one entry per variant), so editing a
-- campaign or a template never changes messages already on their way.
ALTER TABLE campaign_executions ADD COLUMN contents JSONB NOT NULL DEFAULT '[]'::jsonb;
UPDATE campaign_executions e
SET contents = jsonb_build_array(jsonb_build_object('subject', c.name, 'body', c.content))
FROM marketing_campaign c
WHERE c.id = e.campaign_id;
