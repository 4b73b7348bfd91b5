{#- Channel of every distinct (utm_source, utm_medium, utm_campaign, referrer_host) in `relation`.

    The traffic source is read as GA4 reads it: a tagged landing (any utm_source, utm_medium or
    utm_campaign) has source = utm_source, medium = utm_medium and campaign = utm_campaign, each
    '(not set)' when missing; an untagged landing with a referrer has source = the referrer's host
    and medium 'referral'; with neither it is source '(direct)', medium '(none)'. An untagged
    landing from one of our own domains (var cdp__own_domains, subdomains included) is `internal`:
    navigation inside our site, never a touch.

    The source's category (search, social, video, shopping) comes from seed
    channel_source_categories; then seed channel_rules are tried by ascending priority and the first
    row whose every non-empty condition holds wins (rows of one channel are alternatives, so an OR
    in GA4's definition is two rows). Works on the distinct combinations (a few thousand), not on
    every row. -#}
{% macro classify_channels(relation) -%}
    {%- set own_domains = var('cdp__own_domains') | list %}
    with combos as (
        select distinct utm_source, utm_medium, utm_campaign, referrer_host from {{ relation }}
    ),
    tagged as (
        select
            c.*,
            c.utm_source is not null or c.utm_medium is not null or c.utm_campaign is not null as is_tagged
        from combos as c
    ),
    traffic as (
        select
            t.utm_source, t.utm_medium, t.utm_campaign, t.referrer_host,
            case when t.is_tagged then coalesce(t.utm_source, '(not set)')
                 when t.referrer_host is not null then t.referrer_host
                 else '(direct)' end as traffic_source,
            case when t.is_tagged then coalesce(t.utm_medium, '(not set)')
                 when t.referrer_host is not null then 'referral'
                 else '(none)' end as traffic_medium,
            case when t.is_tagged then coalesce(t.utm_campaign, '(not set)')
                 when t.referrer_host is not null then '(referral)'
                 else '(direct)' end as traffic_campaign,
            {%- if own_domains %}
            not t.is_tagged and (
                {%- for d in own_domains %}
                t.referrer_host = {{ cdp_literal(d | lower) }} or t.referrer_host like {{ cdp_literal('%.' ~ (d | lower)) }}
                {%- if not loop.last %} or{% endif %}
                {%- endfor %}
            ) as is_own_domain
            {%- else %}
            false as is_own_domain
            {%- endif %}
        from tagged as t
    ),
    categorised as (
        {#- one category per source: the seed lists each source under one category -#}
        select
            t.utm_source, t.utm_medium, t.utm_campaign, t.referrer_host,
            t.traffic_source, t.traffic_medium, t.traffic_campaign, t.is_own_domain,
            min(s.category) as source_category
        from traffic as t
        left join {{ ref('channel_source_categories') }} as s
            on t.traffic_source = lower(s.source)
            or (s.match = 'domain' and t.traffic_source like '%.' || lower(s.source))
            or (s.match = 'name' and (t.traffic_source like lower(s.source) || '.%'
                                      or t.traffic_source like '%.' || lower(s.source) || '.%'))
        group by t.utm_source, t.utm_medium, t.utm_campaign, t.referrer_host,
                 t.traffic_source, t.traffic_medium, t.traffic_campaign, t.is_own_domain
    ),
    matches as (
        select
            c.utm_source, c.utm_medium, c.utm_campaign, c.referrer_host, c.is_own_domain, r.channel,
            row_number() over (
                partition by c.utm_source, c.utm_medium, c.utm_campaign, c.referrer_host order by r.priority
            ) as rule_rank
        from categorised as c
        inner join {{ ref('channel_rules') }} as r
            on (r.source_category is null or r.source_category = c.source_category)
           and (r.source_pattern is null
                or {{ cdp_regex_full_match('c.traffic_source', 'lower(r.source_pattern)') }})
           and (r.medium_pattern is null
                or {{ cdp_regex_full_match('c.traffic_medium', 'lower(r.medium_pattern)') }})
           and (r.campaign_pattern is null
                or {{ cdp_regex_full_match('c.traffic_campaign', 'lower(r.campaign_pattern)') }})
    )
    select
        utm_source, utm_medium, utm_campaign, referrer_host,
        case when is_own_domain then 'internal' else channel end as channel
    from matches
    where rule_rank = 1
{%- endmacro %}

{#- One text key per traffic-source combination, so rows find their channel with a plain equi-join. -#}
{% macro channel_key(source, medium, campaign, referrer_host) -%}
    concat_ws('|', coalesce({{ source }}, ''), coalesce({{ medium }}, ''), coalesce({{ campaign }}, ''),
              coalesce({{ referrer_host }}, ''))
{%- endmacro %}
