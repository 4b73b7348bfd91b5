{#- Point-in-time features of every profile at each propensity cut-off, and whether it converted in the
    `cdp__propensity_horizon_days` after it (the label). Nothing at or after a cut-off is read for its
    features: events, touches, conversions before it and the lead score it had then. Cut-offs:
    - score: the as-of moment (no label yet); the model's scores are for these rows;
    - validate: one horizon before it, labelled by the last horizon (the time-based validation split);
    - train: `cdp__propensity_training_cutoffs` more, one horizon apart before that.
    Profiles already converted by a cut-off are not in it (the model predicts a first conversion).
    Counts enter as ln(1 + n), so the model's weights are per doubling, not per event. -#}
{%- set horizon = var('cdp__propensity_horizon_days') | int %}
{%- set conversions = var('cdp__propensity_conversions') %}
{%- set channels = var('cdp__propensity_channels') %}
{%- set half_life = var('cdp__lead_score_half_life_days') | float %}
{%- for channel in channels if not modules.re.fullmatch('[a-z][a-z0-9_]*', channel) %}
    {{ exceptions.raise_compiler_error("var cdp__propensity_channels: a channel becomes a column name touched_<channel>; it must be lower case letters, digits and _, got '" ~ channel ~ "'") }}
{%- endfor %}

with int_funnel__profile_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__profile_events') }}
),

int_marketing__touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}
),

fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

lead_score_history as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_score_history') }}
),

int_profiles__traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

cutoffs as (
    select 'score' as cutoff_role, as_of as cutoff_at from as_of
    union all
    select 'validate', {{ cdp_dateadd('day', -horizon, 'as_of') }} from as_of
    {%- for k in range(1, (var('cdp__propensity_training_cutoffs') | int) + 1) %}
    union all
    select 'train', {{ cdp_dateadd('day', -horizon * (k + 1), 'as_of') }} from as_of
    {%- endfor %}
),

targets as (
    select profile_id, converted_at
    from fct_conversions
    where conversion_name in ({% for c in conversions %}{{ cdp_literal(c) }}{% if not loop.last %}, {% endif %}{% endfor %})
),

activity as (
    select
        c.cutoff_role,
        c.cutoff_at,
        e.profile_id,
        count(*) as events_total,
        {%- for days in [7, 30, 90] %}
        sum(case when e.occurred_at >= {{ cdp_dateadd('day', -days, 'c.cutoff_at') }} then 1 else 0 end)
            as events_{{ days }}d,
        {%- endfor %}
        sum(case when e.event_type = 'page' and e.occurred_at >= {{ cdp_dateadd('day', -30, 'c.cutoff_at') }}
                 then 1 else 0 end) as page_views_30d,
        sum(case when e.event_name = 'Product Viewed' and e.occurred_at >= {{ cdp_dateadd('day', -30, 'c.cutoff_at') }}
                 then 1 else 0 end) as product_views_30d,
        sum(case when e.event_name = 'Form Submitted' then 1 else 0 end) as forms_submitted,
        max(case when e.event_name = 'Demo Requested' then 1 else 0 end) as requested_demo,
        min(e.occurred_at) as first_event_at,
        max(e.occurred_at) as last_event_at
    from cutoffs as c
    inner join int_funnel__profile_events as e on e.occurred_at < c.cutoff_at
    group by c.cutoff_role, c.cutoff_at, e.profile_id
),

channel_first_touches as (
    {#- a channel counts as touched by a cut-off when its first touch came before it: one row per
        profile and channel keeps the distinct count out of the per-cut-off aggregation -#}
    select profile_id, channel, min(occurred_at) as first_touch_at
    from int_marketing__touches
    group by profile_id, channel
),

touch_counts as (
    select c.cutoff_at, t.profile_id, count(*) as touches_total
    from cutoffs as c
    inner join int_marketing__touches as t on t.occurred_at < c.cutoff_at
    group by c.cutoff_at, t.profile_id
),

channels_by_cutoff as (
    select
        c.cutoff_at,
        f.profile_id,
        count(*) as channels_touched
        {%- for channel in channels %},
        max(case when f.channel = {{ cdp_literal(channel) }} then 1 else 0 end) as touched_{{ channel }}
        {%- endfor %}
    from cutoffs as c
    inner join channel_first_touches as f on f.first_touch_at < c.cutoff_at
    group by c.cutoff_at, f.profile_id
),

channel_mix as (
    {#- the same (cut-off, profile) pairs on both sides: a touch before a cut-off is its channel's first or later -#}
    select
        n.cutoff_at,
        n.profile_id,
        n.touches_total,
        b.channels_touched
        {%- for channel in channels %},
        b.touched_{{ channel }}
        {%- endfor %}
    from touch_counts as n
    inner join channels_by_cutoff as b on b.cutoff_at = n.cutoff_at and b.profile_id = n.profile_id
),

converted_before as (
    select distinct c.cutoff_at, t.profile_id
    from cutoffs as c
    inner join targets as t on t.converted_at < c.cutoff_at
),

converted_after as (
    select distinct c.cutoff_at, t.profile_id
    from cutoffs as c
    inner join targets as t
        on t.converted_at >= c.cutoff_at and t.converted_at < {{ cdp_dateadd('day', horizon, 'c.cutoff_at') }}
),

-- the lead score a profile had at the cut-off: its last scoring before it, engagement decayed to it
lead_score_then as (
    select
        cutoff_at,
        profile_id,
        fit_score + engagement_score * power(2.0, -{{ cdp_days_between('scored_at', 'cutoff_at') }} / {{ half_life }})
            as lead_score_at_cutoff
    from (
        select
            c.cutoff_at, h.profile_id, h.scored_at, h.fit_score, h.engagement_score,
            row_number() over (partition by c.cutoff_at, h.profile_id order by h.scored_at desc) as recency
        from cutoffs as c
        inner join lead_score_history as h on h.scored_at < c.cutoff_at
    ) as scored
    where recency = 1
),

final as (
    select
        a.cutoff_role,
        a.cutoff_at,
        a.profile_id,
        md5(a.cutoff_role || ':' || a.profile_id) as sample_key,
        case when a.cutoff_role = 'score' then cast(null as integer)
             when ca.profile_id is not null then 1 else 0 end as converted_in_horizon,
        coalesce(ls.lead_score_at_cutoff, 0) as lead_score_at_cutoff,
        ln(1 + a.events_total) as log_events_total,
        ln(1 + a.events_7d) as log_events_7d,
        ln(1 + a.events_30d) as log_events_30d,
        ln(1 + a.events_90d) as log_events_90d,
        ln(1 + a.page_views_30d) as log_page_views_30d,
        ln(1 + a.product_views_30d) as log_product_views_30d,
        ln(1 + a.forms_submitted) as log_forms_submitted,
        a.requested_demo,
        ln(1 + {{ cdp_days_between('a.last_event_at', 'a.cutoff_at') }}) as log_days_since_last_event,
        ln(1 + {{ cdp_days_between('a.first_event_at', 'a.cutoff_at') }}) as log_days_since_first_event,
        ln(1 + coalesce(m.touches_total, 0)) as log_touches_total,
        coalesce(m.channels_touched, 0) as channels_touched,
        {%- for channel in channels %}
        coalesce(m.touched_{{ channel }}, 0) as touched_{{ channel }},
        {%- endfor %}
        case when tr.company is not null and tr.traits_first_observed_at < a.cutoff_at then 1 else 0 end as is_b2b,
        case when tr.traits_first_observed_at < a.cutoff_at then ln(1 + coalesce(tr.company_size, 0)) else 0 end
            as log_company_size
    from activity as a
    left join converted_before as cb on cb.cutoff_at = a.cutoff_at and cb.profile_id = a.profile_id
    left join converted_after as ca on ca.cutoff_at = a.cutoff_at and ca.profile_id = a.profile_id
    left join channel_mix as m on m.cutoff_at = a.cutoff_at and m.profile_id = a.profile_id
    left join lead_score_then as ls on ls.cutoff_at = a.cutoff_at and ls.profile_id = a.profile_id
    left join int_profiles__traits as tr on tr.profile_id = a.profile_id
    where cb.profile_id is null
)

select * from final
