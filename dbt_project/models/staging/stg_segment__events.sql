{#- Segment-Spec messages, typed and cleaned: one row per loaded message. Incremental: each run adds
    the messages loaded since the last one (raw.events is append-only and deduplicated on load). -#}
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}

with source as (
    select * from {{ source('raw', 'events') }}
    {% if is_incremental() %}
    where _loaded_at > (select coalesce(max(_loaded_at), cast('1900-01-01' as timestamp)) from {{ this }})
    {% endif %}
),

extracted as (
    select
        message_id,
        type as event_type,
        case when type = 'track' then trim(event) when type in ('page', 'screen') then trim(name) end as event_name,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(previous_id), '') as previous_id,
        nullif(trim(group_id), '') as group_id,
        "timestamp" as occurred_at,
        coalesce({{ json_text('traits', ['email']) }}, {{ json_text('context', ['traits', 'email']) }}) as email_raw,
        coalesce({{ json_text('traits', ['phone']) }}, {{ json_text('context', ['traits', 'phone']) }}) as phone_raw,
        nullif(trim({{ json_text('context', ['device', 'id']) }}), '') as device_id,
        {{ json_text('context', ['page', 'url']) }} as page_url,
        {{ json_text('context', ['page', 'path']) }} as page_path,
        nullif(trim({{ json_text('context', ['page', 'referrer']) }}), '') as page_referrer,
        {{ json_text('context', ['campaign', 'source']) }} as campaign_source,
        {{ json_text('context', ['campaign', 'medium']) }} as campaign_medium,
        {{ json_text('context', ['campaign', 'name']) }} as campaign_name,
        {{ json_text('context', ['campaign', 'term']) }} as campaign_term,
        {{ json_text('context', ['campaign', 'content']) }} as campaign_content,
        {{ json_text('properties', ['revenue']) }} as revenue_text,
        {{ json_text('properties', ['currency']) }} as currency_raw,
        {{ json_text('properties', ['order_id']) }} as order_id,
        {{ json_text('properties', ['form_id']) }} as form_id,
        properties,
        traits,
        _source_file,
        _loaded_at
    from source
),

normalised as (
    select
        e.*,
        {{ normalize_email('e.email_raw') }} as email,
        {{ normalize_utm("coalesce(e.campaign_source, " ~ url_parameter('e.page_url', 'utm_source') ~ ")") }} as utm_source,
        {{ normalize_utm("coalesce(e.campaign_medium, " ~ url_parameter('e.page_url', 'utm_medium') ~ ")") }} as utm_medium,
        {{ normalize_utm("coalesce(e.campaign_name, " ~ url_parameter('e.page_url', 'utm_campaign') ~ ")") }} as utm_campaign,
        {{ normalize_utm("coalesce(e.campaign_term, " ~ url_parameter('e.page_url', 'utm_term') ~ ")") }} as utm_term,
        {{ normalize_utm("coalesce(e.campaign_content, " ~ url_parameter('e.page_url', 'utm_content') ~ ")") }} as utm_content,
        {{ url_host('e.page_referrer') }} as referrer_host
    from extracted as e
),

channels as (
    {{ classify_channels('normalised') }}
),

default_country as (
    select * from {{ ref('country_calling_codes') }} where country = '{{ var("cdp__default_phone_country") }}'
)

select
    n.message_id,
    n.event_type,
    n.event_name,
    n.occurred_at,
    n.anonymous_id,
    n.user_id,
    n.previous_id,
    n.group_id,
    n.device_id,
    n.email,
    {{ sha256_hex('n.email') }} as email_sha256,
    n.email is not null and exists (
        select 1 from {{ ref('blocked_identifiers') }} as b
        where b.identifier_type = 'email' and b.identifier = n.email
    ) as email_is_blocked,
    {{ phone_to_e164('n.phone_raw', 'cc') }} as phone_e164,
    {{ sha256_hex(phone_to_e164('n.phone_raw', 'cc')) }} as phone_sha256,
    n.page_url,
    n.page_path,
    n.page_referrer,
    n.referrer_host,
    n.utm_source,
    n.utm_medium,
    n.utm_campaign,
    n.utm_term,
    n.utm_content,
    c.channel,
    {{ dbt.safe_cast('n.revenue_text', 'decimal(18, 2)') }} as revenue,
    upper(nullif(trim(n.currency_raw), '')) as currency,
    n.order_id,
    n.form_id,
    n.properties,
    n.traits,
    n._source_file,
    n._loaded_at
from normalised as n
left join channels as c
    on c.utm_source is not distinct from n.utm_source
   and c.utm_medium is not distinct from n.utm_medium
   and c.referrer_host is not distinct from n.referrer_host
left join default_country as cc on 1 = 1
