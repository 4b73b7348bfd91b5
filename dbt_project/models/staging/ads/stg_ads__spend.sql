{#- Daily ad spend per channel, source, medium and campaign (exact duplicate rows were removed on load;
    rows repeating a day/campaign across files are summed). The channel is classified from source,
    medium and campaign by the same rules as touches (macro classify_channels), so spend and credit
    meet on one channel name; the file's own channel column is kept as reported_channel and is the
    channel only for rows that carry neither source nor medium. -#}
with raw_ad_spend as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'ad_spend') }}
),

source as (
    select
        cast({{ adapter.quote("date") }} as date) as spend_date,
        lower(trim(channel)) as reported_channel,
        {{ normalize_utm('source') }} as utm_source,
        {{ normalize_utm('medium') }} as utm_medium,
        {{ normalize_utm('campaign') }} as utm_campaign,
        cast(null as {{ dbt.type_string() }}) as referrer_host,
        upper(coalesce(nullif(trim(currency), ''), 'USD')) as currency,
        cast(spend as decimal(18, 2)) as spend,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks
    from raw_ad_spend
),

channels as (
    select
        {{ channel_key('utm_source', 'utm_medium', 'utm_campaign', 'referrer_host') }} as channel_key,
        channel
    from ({{ classify_channels('source') }}) as classified
),

classified as (
    select
        s.spend_date,
        case when s.utm_source is null and s.utm_medium is null then s.reported_channel else c.channel end as channel,
        s.reported_channel,
        s.utm_source,
        s.utm_medium,
        s.utm_campaign,
        s.currency,
        s.spend,
        s.impressions,
        s.clicks
    from source as s
    left join channels as c
        on c.channel_key = {{ channel_key('s.utm_source', 's.utm_medium', 's.utm_campaign', 's.referrer_host') }}
),

final as (
    select
        spend_date, channel, reported_channel, utm_source, utm_medium, utm_campaign, currency,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from classified
    group by 1, 2, 3, 4, 5, 6, 7
)

select * from final
