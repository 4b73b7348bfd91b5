{#- Daily ad spend per channel, source, medium and campaign (exact duplicate rows were removed on load;
    rows repeating a day/campaign across files are summed). -#}
select
    cast("date" as date) as spend_date,
    lower(trim(channel)) as channel,
    {{ normalize_utm('source') }} as utm_source,
    {{ normalize_utm('medium') }} as utm_medium,
    {{ normalize_utm('campaign') }} as utm_campaign,
    upper(coalesce(nullif(trim(currency), ''), 'USD')) as currency,
    sum(cast(spend as decimal(18, 2))) as spend,
    sum(cast(impressions as bigint)) as impressions,
    sum(cast(clicks as bigint)) as clicks
from {{ source('raw', 'ad_spend') }}
group by 1, 2, 3, 4, 5, 6
