{#- Segment-Spec messages, typed and cleaned: one row per loaded message. Incremental: each run adds
    the messages loaded since the last one (raw.events is append-only and deduplicated on load). -#}
{{ config(materialized='incremental', on_schema_change='sync_all_columns') }}

with raw_events as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'events') }}
),

source as {{ cte_not_materialized() }} (
    select * from raw_events
    {% if is_incremental() %}
    where _loaded_at > (select coalesce(max(t._loaded_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
    {% endif %}
),

{%- set context_paths = [
    ['device', 'id'], ['page', 'url'], ['page', 'path'], ['page', 'referrer'],
    ['campaign', 'source'], ['campaign', 'medium'], ['campaign', 'name'], ['campaign', 'term'],
    ['campaign', 'content'], ['traits', 'email'], ['traits', 'phone'],
] -%}
{%- set properties_paths = [['revenue'], ['currency'], ['order_id'], ['form_id']] -%}
{%- set traits_paths = [['email'], ['phone'], ['firstName'], ['lastName'], ['company'], ['title'], ['country']] %}

parsed as {{ cte_not_materialized() }} (
    {#- Each JSON object is parsed once for all the fields read from it. -#}
    select
        *,
        {{ json_texts('context', context_paths) }} as context_values,
        {{ json_texts('properties', properties_paths) }} as properties_values,
        {{ json_texts('traits', traits_paths) }} as traits_values
    from source
),

extracted as {{ cte_not_materialized() }} (
    select
        message_id,
        type as event_type,
        case when type = 'track' then trim(event) when type in ('page', 'screen') then trim(name) end as event_name,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(previous_id), '') as previous_id,
        nullif(trim(group_id), '') as group_id,
        {{ adapter.quote("timestamp") }} as occurred_at,
        coalesce({{ list_item('traits_values', 1) }}, {{ list_item('context_values', 10) }}) as email_raw,
        coalesce({{ list_item('traits_values', 2) }}, {{ list_item('context_values', 11) }}) as phone_raw,
        nullif(trim({{ list_item('context_values', 1) }}), '') as device_id,
        {{ list_item('context_values', 2) }} as page_url,
        {{ list_item('context_values', 3) }} as page_path,
        nullif(trim({{ list_item('context_values', 4) }}), '') as page_referrer,
        {{ list_item('context_values', 5) }} as campaign_source,
        {{ list_item('context_values', 6) }} as campaign_medium,
        {{ list_item('context_values', 7) }} as campaign_name,
        {{ list_item('context_values', 8) }} as campaign_term,
        {{ list_item('context_values', 9) }} as campaign_content,
        {{ list_item('properties_values', 1) }} as revenue_text,
        {{ list_item('properties_values', 2) }} as currency_raw,
        {{ list_item('properties_values', 3) }} as order_id,
        {{ list_item('properties_values', 4) }} as form_id,
        nullif(trim({{ list_item('traits_values', 3) }}), '') as first_name,
        nullif(trim({{ list_item('traits_values', 4) }}), '') as last_name,
        nullif(trim({{ list_item('traits_values', 5) }}), '') as company,
        nullif(trim({{ list_item('traits_values', 6) }}), '') as job_title,
        upper(nullif(trim({{ list_item('traits_values', 7) }}), '')) as country,
        _source_file,
        _loaded_at
    from parsed
),

normalised as {{ cte_not_materialized() }} (
    select
        e.*,
        {{ normalize_email('e.email_raw') }} as email,
        {%- for utm, campaign_field in [('source', 'source'), ('medium', 'medium'), ('campaign', 'name'),
                                        ('term', 'term'), ('content', 'content')] %}
        {{ normalize_utm("coalesce(e.campaign_" ~ campaign_field ~ ", case when e.has_url_utm then "
                         ~ url_parameter('e.page_url', 'utm_' ~ utm) ~ " end)") }} as utm_{{ utm }},
        {%- endfor %}
        {{ url_host('e.page_referrer') }} as referrer_host
    from (
        {#- Only URLs that carry UTM parameters are searched for them (most page views carry none). -#}
        select *, page_url like '%utm!_%' escape '!' as has_url_utm from extracted
    ) as e
),

keyed as (
    {#- One text key per (source, medium, campaign, referrer host) so the channel lookup is a plain equi-join. -#}
    select
        *,
        {{ channel_key('utm_source', 'utm_medium', 'utm_campaign', 'referrer_host') }} as channel_key
    from normalised
),

channels as (
    select
        {{ channel_key('utm_source', 'utm_medium', 'utm_campaign', 'referrer_host') }} as channel_key,
        channel
    from ({{ classify_channels('normalised') }}) as classified
),

final as (
    select
        n.message_id,
        n.event_type,
        n.event_name,
        n.occurred_at,
        n.anonymous_id,
        {{ is_blocked_identifier('anonymous_id', 'lower(n.anonymous_id)') }} as anonymous_id_is_blocked,
        n.user_id,
        {{ is_blocked_identifier('user_id', 'lower(n.user_id)') }} as user_id_is_blocked,
        n.previous_id,
        n.group_id,
        n.device_id,
        {{ pii_columns('n.email', 'n.phone_raw', 'cc', 'n.email_raw') }},
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
        {{ try_cast('n.revenue_text', 'decimal(18, 2)') }} as revenue,
        upper(nullif(trim(n.currency_raw), '')) as currency,
        n.order_id,
        n.form_id,
        n.first_name,
        n.last_name,
        n.company,
        n.job_title,
        n.country,
        n._source_file,
        n._loaded_at
    from keyed as n
    left join channels as c on c.channel_key = n.channel_key
    {{ join_phone_country('n.phone_raw is not null') }}
)

select * from final
