//! Diesel table definitions, kept in step with `migrations/` by hand (`text[]` is `Array<Text>`).

diesel::table! {
    customers (id) {
        id -> Uuid,
        external_id -> Nullable<Text>,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        push_token -> Nullable<Text>,
        tags -> Array<Text>,
        attributes -> Jsonb,
        locale -> Nullable<Text>,
        time_zone -> Nullable<Text>,
        birthday -> Nullable<Date>,
        erased_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        wechat_openid -> Nullable<Text>,
    }
}

diesel::table! {
    customer_events (event_id) {
        event_id -> Text,
        customer_id -> Uuid,
        name -> Text,
        properties -> Jsonb,
        occurred_at -> Timestamptz,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    customer_opt_outs (customer_id, channel) {
        customer_id -> Uuid,
        channel -> Text,
        source -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    marketing_campaign (id) {
        id -> Uuid,
        name -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        status -> Text,
        target_tags -> Array<Text>,
        target_segment_id -> Nullable<Uuid>,
        content_template_id -> Nullable<Uuid>,
        content -> Text,
        variants -> Jsonb,
        start_time -> Nullable<Timestamptz>,
        end_time -> Nullable<Timestamptz>,
        actual_start_time -> Nullable<Timestamptz>,
        actual_end_time -> Nullable<Timestamptz>,
        created_by -> Uuid,
        updated_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        trigger -> Jsonb,
        next_run_at -> Nullable<Timestamptz>,
        paused_at -> Nullable<Timestamptz>,
        send_at_local -> Nullable<Text>,
        time_zone -> Nullable<Text>,
        quiet_hours -> Nullable<Jsonb>,
        spend_cap_micros -> Nullable<Int8>,
    }
}

diesel::table! {
    campaign_executions (id) {
        id -> Uuid,
        campaign_id -> Uuid,
        execution_type -> Text,
        status -> Text,
        planned -> Int8,
        skipped -> Jsonb,
        samples -> Jsonb,
        triggered_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        publish_cursor -> Nullable<Uuid>,
        published_count -> Int8,
        publish_done -> Bool,
        publisher -> Nullable<Uuid>,
        publisher_lease_until -> Nullable<Timestamptz>,
        sent_count -> Int8,
        failed_count -> Int8,
        trace_context -> Nullable<Text>,
        contents -> Jsonb,
        materialized_upto -> Nullable<Uuid>,
        materialize_done -> Bool,
        materialize_lease_until -> Nullable<Timestamptz>,
        occurrence -> Nullable<Timestamptz>,
        timing -> Nullable<Jsonb>,
        listening -> Bool,
        cost_estimate -> Nullable<Jsonb>,
    }
}

diesel::table! {
    marketing_record (id) {
        id -> Uuid,
        campaign_id -> Uuid,
        execution_id -> Uuid,
        customer_id -> Uuid,
        channel -> Text,
        status -> Text,
        error_message -> Nullable<Text>,
        response -> Nullable<Jsonb>,
        provider_message_id -> Nullable<Text>,
        attempts -> Int4,
        sent_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        opened_at -> Nullable<Timestamptz>,
        clicked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        claimed_at -> Nullable<Timestamptz>,
        variant -> Nullable<Text>,
        unsubscribed_at -> Nullable<Timestamptz>,
        converted_at -> Nullable<Timestamptz>,
        not_before -> Nullable<Timestamptz>,
        due_at -> Nullable<Timestamptz>,
        published_at -> Nullable<Timestamptz>,
        event_id -> Nullable<Text>,
        provider -> Nullable<Text>,
        cost_micros -> Nullable<Int8>,
    }
}

diesel::table! {
    campaign_stats (execution_id, variant) {
        execution_id -> Uuid,
        variant -> Text,
        campaign_id -> Uuid,
        channel -> Text,
        planned -> Int8,
        sent -> Int8,
        send_failed -> Int8,
        delivered -> Int8,
        delivery_failed -> Int8,
        opened -> Int8,
        clicked -> Int8,
        converted -> Int8,
        unsubscribed -> Int8,
        cost_micros -> Int8,
    }
}

diesel::table! {
    campaign_spend (campaign_id) {
        campaign_id -> Uuid,
        spent_micros -> Int8,
        granted -> Int4,
    }
}

diesel::table! {
    conversions (id) {
        id -> Uuid,
        customer_id -> Uuid,
        record_id -> Nullable<Uuid>,
        campaign_id -> Nullable<Uuid>,
        external_id -> Nullable<Text>,
        kind -> Text,
        value_cents -> Nullable<Int8>,
        occurred_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_events (provider, event_id) {
        provider -> Text,
        event_id -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    sms_replies (id) {
        id -> Uuid,
        source -> Text,
        message_id -> Text,
        phone -> Text,
        text -> Text,
        kind -> Text,
        customer_id -> Uuid,
        record_id -> Nullable<Uuid>,
        campaign_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    content_templates (id) {
        id -> Uuid,
        name -> Text,
        channel -> Text,
        subject -> Nullable<Text>,
        body -> Text,
        html_body -> Nullable<Text>,
        variables -> Array<Text>,
        created_by -> Uuid,
        updated_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    segments (id) {
        id -> Uuid,
        name -> Text,
        description -> Text,
        rule -> Jsonb,
        created_by -> Uuid,
        updated_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    journeys (id) {
        id -> Uuid,
        name -> Text,
        status -> Text,
        version -> Int4,
        created_by -> Uuid,
        updated_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        activated_at -> Nullable<Timestamptz>,
        archived_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    journey_versions (journey_id, version) {
        journey_id -> Uuid,
        version -> Int4,
        definition -> Jsonb,
        send_campaigns -> Jsonb,
        created_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    journey_step_stats (journey_id, version, step) {
        journey_id -> Uuid,
        version -> Int4,
        step -> Text,
        entered -> Int8,
        waiting -> Int8,
        completed -> Int8,
        exited -> Int8,
        converted -> Int8,
    }
}

diesel::joinable!(customer_opt_outs -> customers (customer_id));
diesel::joinable!(campaign_executions -> marketing_campaign (campaign_id));
diesel::joinable!(marketing_record -> marketing_campaign (campaign_id));
diesel::joinable!(marketing_record -> customers (customer_id));
diesel::joinable!(campaign_spend -> marketing_campaign (campaign_id));

diesel::allow_tables_to_appear_in_same_query!(
    customers,
    customer_events,
    customer_opt_outs,
    marketing_campaign,
    campaign_executions,
    marketing_record,
    content_templates,
    segments,
    campaign_stats,
    campaign_spend,
    conversions,
    webhook_events,
    sms_replies,
    journeys,
    journey_versions,
    journey_step_stats,
);
