{#- Channel of every distinct (utm_source, utm_medium, referrer_host) in `relation`, by the seed
    channel_rules: rules are tried by ascending priority and the first whose patterns all match wins.
    Works on the distinct combinations (a few thousand), not on every row. -#}
{% macro classify_channels(relation) -%}
    with combos as (
        select distinct utm_source, utm_medium, referrer_host from {{ relation }}
    ),
    matches as (
        select
            c.utm_source, c.utm_medium, c.referrer_host, r.channel,
            row_number() over (
                partition by c.utm_source, c.utm_medium, c.referrer_host order by r.priority
            ) as rule_rank
        from combos as c
        inner join {{ ref('channel_rules') }} as r
            on (r.utm_source_pattern is null
                or {{ cdp_regex_full_match('coalesce(c.utm_source, \'\')', 'lower(r.utm_source_pattern)') }})
           and (r.utm_medium_pattern is null
                or {{ cdp_regex_full_match('coalesce(c.utm_medium, \'\')', 'lower(r.utm_medium_pattern)') }})
           and (r.referrer_host_pattern is null
                or {{ cdp_regex_full_match('coalesce(c.referrer_host, \'\')', 'lower(r.referrer_host_pattern)') }})
           and (not r.requires_no_utm or (c.utm_source is null and c.utm_medium is null))
    )
    select utm_source, utm_medium, referrer_host, channel from matches where rule_rank = 1
{%- endmacro %}
