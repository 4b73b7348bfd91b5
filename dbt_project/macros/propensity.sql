{#- The propensity model's point-in-time feature rows (intermediate.int_propensity__features and
    int_propensity__training_rows), and the calendar grid its labelled cut-offs sit on.

    The labelled cut-offs (validate and train) are points of a fixed grid, every
    `cdp__propensity_horizon_days` days from 1970-01-01 00:00 UTC: the validation cut-off is the latest
    grid point whose label window (the horizon after it) has ended by the as-of moment, the training
    cut-offs are the `cdp__propensity_training_cutoffs` grid points before it. A new day moves the
    as-of moment but not the grid, so a day's data changes the labelled rows only of the profiles it
    touched, and the model trains on the same cut-offs until a horizon has passed. -#}

{#- The feature columns of a feature row, in order (after cutoff_at, profile_id and the label). -#}
{% macro cdp_propensity_feature_columns() -%}
    {%- set columns = ['lead_score_at_cutoff', 'log_events_total', 'log_events_7d', 'log_events_30d', 'log_events_90d',
                       'log_page_views_30d', 'log_product_views_30d', 'log_forms_submitted', 'requested_demo',
                       'log_days_since_last_event', 'log_days_since_first_event', 'log_touches_total',
                       'channels_touched'] -%}
    {%- for channel in var('cdp__propensity_channels') -%}
        {%- do columns.append('touched_' ~ channel) -%}
    {%- endfor -%}
    {{ return(columns + ['is_b2b', 'log_company_size']) }}
{%- endmacro %}

{#- SQL: the k-th grid point before the as-of moment (k = 1: the latest whose horizon after it has
    ended by then, the validation cut-off). -#}
{% macro cdp_propensity_grid_cutoff(k) -%}
    {%- set horizon = var('cdp__propensity_horizon_days') | int -%}
    {%- set epoch = "cast('1970-01-01' as " ~ type_timestamptz() ~ ")" -%}
    {#- whole horizons from the epoch to the as-of moment: the latest grid point at or before it -#}
    {%- set horizons = "cast(floor(" ~ cdp_days_between(epoch, cdp_as_of()) ~ " / " ~ horizon ~ ") as integer)" -%}
    {{ cdp_dateadd('day', '(' ~ horizons ~ ' - ' ~ k ~ ') * ' ~ horizon, epoch) }}
{%- endmacro %}

{#- SQL: the labelled cut-offs of the grid (one column, cutoff_at), the latest first. -#}
{% macro cdp_propensity_labelled_cutoffs() -%}
    {%- for k in range(1, (var('cdp__propensity_training_cutoffs') | int) + 2) %}
    select {{ cdp_propensity_grid_cutoff(k) }} as cutoff_at
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- A select of feature rows (cutoff_at, profile_id, converted_in_horizon, then
    cdp_propensity_feature_columns()) at the cut-offs `cutoffs` selects (column cutoff_at), from what
    happened strictly before each. `profiles`, when given, is a relation of profile_id: only those
    profiles are built (their inputs are read through a join on it). `labelled` false leaves
    converted_in_horizon null (the score cut-off: its horizon has not happened yet). Profiles already
    converted by a cut-off are not in it (the model predicts a first conversion). -#}
{% macro cdp_propensity_feature_rows(cutoffs, profiles=none, labelled=true) -%}
{%- set horizon = var('cdp__propensity_horizon_days') | int %}
{%- set conversions = var('cdp__propensity_conversions') %}
{%- set channels = var('cdp__propensity_channels') %}
{%- set half_life = var('cdp__lead_score_half_life_days') | float %}
{%- set only = (" where profile_id in (select s.profile_id from " ~ profiles ~ " as s)") if profiles else "" %}
{%- for channel in channels if not modules.re.fullmatch('[a-z][a-z0-9_]*', channel) %}
    {{ exceptions.raise_compiler_error("var cdp__propensity_channels: a channel becomes a column name touched_<channel>; it must be lower case letters, digits and _, got '" ~ channel ~ "'") }}
{%- endfor %}
with profile_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__profile_events') }}{{ only }}
),

touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}{{ only }}
),

conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}{{ only }}
),

score_history as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_score_history') }}{{ only }}
),

traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}{{ only }}
),

cutoffs as (
    {{ cutoffs }}
),

targets as (
    select profile_id, converted_at
    from conversions
    where conversion_name in ({% for c in conversions %}{{ cdp_literal(c) }}{% if not loop.last %}, {% endif %}{% endfor %})
),

activity as (
    select
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
    inner join profile_events as e on e.occurred_at < c.cutoff_at
    group by c.cutoff_at, e.profile_id
),

channel_first_touches as (
    {#- a channel counts as touched by a cut-off when its first touch came before it: one row per
        profile and channel keeps the distinct count out of the per-cut-off aggregation -#}
    select profile_id, channel, min(occurred_at) as first_touch_at
    from touches
    group by profile_id, channel
),

touch_counts as (
    select c.cutoff_at, t.profile_id, count(*) as touches_total
    from cutoffs as c
    inner join touches as t on t.occurred_at < c.cutoff_at
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
{%- if labelled %}

converted_after as (
    select distinct c.cutoff_at, t.profile_id
    from cutoffs as c
    inner join targets as t
        on t.converted_at >= c.cutoff_at and t.converted_at < {{ cdp_dateadd('day', horizon, 'c.cutoff_at') }}
),
{%- endif %}

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
        inner join score_history as h on h.scored_at < c.cutoff_at
    ) as scored
    where recency = 1
)

select
    a.cutoff_at,
    a.profile_id,
    {%- if labelled %}
    case when ca.profile_id is not null then 1 else 0 end as converted_in_horizon,
    {%- else %}
    cast(null as integer) as converted_in_horizon,
    {%- endif %}
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
{%- if labelled %}
left join converted_after as ca on ca.cutoff_at = a.cutoff_at and ca.profile_id = a.profile_id
{%- endif %}
left join channel_mix as m on m.cutoff_at = a.cutoff_at and m.profile_id = a.profile_id
left join lead_score_then as ls on ls.cutoff_at = a.cutoff_at and ls.profile_id = a.profile_id
left join traits as tr on tr.profile_id = a.profile_id
where cb.profile_id is null
{%- endmacro %}

{#- Pre-hook of int_propensity__training_rows on an incremental run: the changed profiles (with the
    profiles of CRM rows staged since: their fit score, traits and CRM conversions) lose their rows,
    and so do the cut-offs the grid no longer holds. Nothing on a first build or a full refresh. -#}
{% macro cdp_propensity_prepare_training_rows(relation) -%}
    {%- if is_incremental() -%}
    {{ cdp_delete_changed_profiles(relation, ['crm']) }};
    delete from {{ relation }} where cutoff_at not in ({{ cdp_propensity_labelled_cutoffs() }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
