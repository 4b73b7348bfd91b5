{#- How every lead score moved: one row per profile and moment its score changed by a step (its
    engagement events, grouped when simultaneous, and the moment its traits were first seen, when
    fit is added). Fit uses the person's current traits throughout. Between steps the engagement
    part halves every var cdp__lead_score_half_life_days days. The first row at or above
    var cdp__mql_score_threshold marks the crossing the lifecycle rule `lead_score` reads; a row
    whose score was at or above the threshold and decays (or steps) below it records when, which
    the rule `lead_score_below` reads.

    Decay in set-based SQL: with x = days since the profile's first step / half-life, the
    engagement score after step k is 2^-x_k * sum_{j<=k} points_j * 2^x_j (a running sum), exact
    while histories are shorter than about 1000 half-lives. -#}
{%- set half_life = var('cdp__lead_score_half_life_days') | float %}
{%- set threshold = var('cdp__mql_score_threshold') | float %}

with as_of as (
    select {{ cdp_as_of() }} as as_of
),

fit as (
    select profile_id, sum(points) as fit_score
    from {{ ref('int_scoring__fit_matches') }}
    group by profile_id
),

raw_steps as (
    select profile_id, occurred_at as scored_at, points, rule_id
    from {{ ref('int_scoring__engagement_matches') }}
    union all
    select f.profile_id, least(t.traits_first_observed_at, a.as_of), cast(0 as decimal(18, 2)), 'fit'
    from fit as f
    inner join {{ ref('int_profiles__traits') }} as t on t.profile_id = f.profile_id
    cross join as_of as a
),

steps as (
    select
        profile_id,
        scored_at,
        sum(points) as engagement_points_added,
        string_agg(distinct rule_id, ',' order by rule_id) as rule_ids
    from raw_steps
    group by profile_id, scored_at
),

positioned as (
    select
        s.*,
        coalesce(f.fit_score, 0) as fit_score,
        {{ cdp_days_between('min(s.scored_at) over (partition by s.profile_id)', 's.scored_at') }} / {{ half_life }}
            as half_lives
    from steps as s
    left join fit as f on f.profile_id = s.profile_id
),

scored as (
    select
        profile_id,
        scored_at,
        rule_ids,
        engagement_points_added,
        fit_score,
        power(2.0, -half_lives) * sum(engagement_points_added * power(2.0, half_lives)) over (
            partition by profile_id order by scored_at rows between unbounded preceding and current row
        ) as engagement_score,
        lead(scored_at) over (partition by profile_id order by scored_at) as next_scored_at
    from positioned
),

with_drops as (
    select
        s.*,
        s.fit_score + s.engagement_score as lead_score,
        case when s.fit_score + s.engagement_score >= {{ threshold }}
              and s.fit_score < {{ threshold }} and s.engagement_score > 0
             then {{ dbt.dateadd('second',
                        'cast(86400 * ' ~ half_life ~ ' * ln(s.engagement_score / (' ~ threshold ~ ' - s.fit_score)) / ln(2.0) as bigint)',
                        's.scored_at') }}
        end as decay_below_at,
        a.as_of
    from scored as s
    cross join as_of as a
),

bounded as (
    select
        *,
        case when decay_below_at < coalesce(next_scored_at, as_of) or (next_scored_at is null and decay_below_at <= as_of)
             then decay_below_at end as decays_below_at
    from with_drops
),

compared as (
    select
        *,
        lag(lead_score) over (partition by profile_id order by scored_at) as previous_lead_score,
        lag(decays_below_at) over (partition by profile_id order by scored_at) as previous_decays_below_at,
        min(case when lead_score >= {{ threshold }} then scored_at end) over (partition by profile_id)
            as first_reached_threshold_at
    from bounded
)

select
    profile_id,
    scored_at,
    rule_ids,
    engagement_points_added,
    cast(fit_score as double) as fit_score,
    cast(engagement_score as double) as engagement_score,
    cast(lead_score as double) as lead_score,
    scored_at = first_reached_threshold_at as is_first_threshold_crossing,
    case when lead_score < {{ threshold }} and previous_lead_score >= {{ threshold }}
              and previous_decays_below_at is null then scored_at
         else decays_below_at end as falls_below_threshold_at,
    cast({{ threshold }} as double) as mql_score_threshold
from compared
