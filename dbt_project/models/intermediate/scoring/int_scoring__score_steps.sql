{#- Every profile's lead-score steps with what its own data decides: one row per profile and moment its
    score changed by a step (its engagement events, grouped when simultaneous, and the moment its traits
    were first seen, when fit is added), the score right before and after it, whether it crosses
    var cdp__mql_score_threshold, and when the score would decay below the threshold if no step
    followed (decay_below_at). marts.lead_score_history adds what the as-of moment decides (whether
    that decay has happened by then).

    Fit uses the person's current traits throughout. Between steps the engagement part halves every
    var cdp__lead_score_half_life_days days. Decay in one set-based pass: with x = (time - the
    profile's first step) / half-life, the engagement score right after step k is
    2^-x_k * sum_{j<=k} points_j * 2^x_j (a running sum), and right before it
    2^-x_k * sum_{j<k} points_j * 2^x_j. Anchored at the profile's own first step, a row depends only on
    that profile's steps up to it: a later as-of moment or another profile's events leave it as it
    was, to the last bit. Exact while a profile's steps span less than about 1000 half-lives (a dbt
    test fails the build otherwise).

    Rebuilt per profile (macros/cross_db/profile_incremental.sql), with the profiles of CRM rows staged
    since the last build (their traits and fit) among the changed ones, and every profile when the
    as-of moment went back. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
-- depends_on: {{ ref('lead_score_rules') }}, {{ ref('identity_profile_assignments') }}, {{ ref('identity_profile_registry') }}, {{ ref('int_identity__event_profiles') }}, {{ ref('int_privacy__deleted_profiles') }}, {{ ref('stg_crm__contacts') }}, {{ ref('stg_crm__opportunity_snapshots') }}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_delete_changed_profiles(this, ['crm', 'as_of']) }}",
          post_hook="{{ cdp_drop_changed_profiles(this) }}") }}

{%- set half_life = var('cdp__lead_score_half_life_days') | float %}
{%- set threshold = var('cdp__mql_score_threshold') | float %}
{%- set rule_ids = cdp_rule_rows('lead_score_rules', 'rule_id') | selectattr('category', 'equalto', 'engagement')
                   | map(attribute='rule_id') | list + ['fit'] %}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

int_scoring__fit_matches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_scoring__fit_matches') }}
    {%- if is_incremental() %}
    where profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
    {%- endif %}
),

int_scoring__engagement_matches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_scoring__engagement_matches') }}
    {%- if is_incremental() %}
    where profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
    {%- endif %}
),

int_profiles__traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}
    {%- if is_incremental() %}
    where profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
    {%- endif %}
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

fit as (
    select profile_id, sum(points) as fit_score
    from int_scoring__fit_matches
    group by profile_id
),

raw_steps as (
    select profile_id, occurred_at as scored_at, points, rule_id
    from int_scoring__engagement_matches
    union all
    select f.profile_id, least(t.traits_first_observed_at, a.as_of), cast(0 as decimal(18, 2)), 'fit'
    from fit as f
    inner join int_profiles__traits as t on t.profile_id = f.profile_id
    cross join as_of as a
),

steps as (
    select
        profile_id,
        scored_at,
        sum(points) as engagement_points_added,
        {#- which rules fired, in seed order (one cheap flag per rule, no ordered string aggregate) #}
        concat_ws(','
            {%- for r in rule_ids %}, case when count(case when rule_id = {{ cdp_literal(r) }} then 1 end) > 0
                                          then {{ cdp_literal(r) }} end{% endfor %}) as rule_ids
    from raw_steps
    group by profile_id, scored_at
),

windowed as (
    select
        s.profile_id,
        s.scored_at,
        s.rule_ids,
        s.engagement_points_added,
        s.half_lives,
        a.as_of,
        sum(s.engagement_points_added * power(2.0, s.half_lives)) over (
            partition by s.profile_id order by s.scored_at rows between unbounded preceding and current row
        ) as running_sum,
        lead(s.scored_at) over (partition by s.profile_id order by s.scored_at) as next_scored_at
    from (
        select anchored.*, {{ cdp_days_between('anchored.first_scored_at', 'anchored.scored_at') }} / {{ half_life }} as half_lives
        from (
            select steps.*, min(scored_at) over (partition by profile_id) as first_scored_at
            from steps
        ) as anchored
    ) as s
    cross join as_of as a
),

scored as (
    select
        *,
        {#- compared with the threshold at 1e-9: the decay's floating-point rounding differs between
            engines, and a score of exactly the threshold must cross it on every one -#}
        round(cast(fit_score + engagement_score as decimal(38, 12)), 9) as score_after,
        round(cast(fit_score + engagement_before as decimal(38, 12)), 9) as score_before
    from (
        select
            w.*,
            coalesce(f.fit_score, 0) as fit_score,
            w.running_sum * power(2.0, -w.half_lives) as engagement_score,
            (w.running_sum - w.engagement_points_added * power(2.0, w.half_lives)) * power(2.0, -w.half_lives)
                as engagement_before
        from windowed as w
        left join fit as f on f.profile_id = w.profile_id
    ) as unrounded
),

with_decay as (
    select
        *,
        case when score_after >= {{ threshold }} and fit_score < {{ threshold }}
              and engagement_score > 0
             then {{ cdp_dateadd('second',
                        'cast(86400 * ' ~ half_life ~ ' * ln(engagement_score / (' ~ threshold ~ ' - fit_score)) / ln(2.0) as bigint)',
                        'scored_at') }}
        end as decay_below_at
    from scored
),

final as (
    select
        profile_id,
        scored_at,
        rule_ids,
        cast(engagement_points_added as decimal(38, 2)) as engagement_points_added,
        cast(fit_score as {{ type_double() }}) as fit_score,
        cast(engagement_score as {{ type_double() }}) as engagement_score,
        cast(fit_score + engagement_score as {{ type_double() }}) as lead_score,
        cast(fit_score + engagement_before as {{ type_double() }}) as lead_score_before,
        score_after >= {{ threshold }} and score_before < {{ threshold }} as crosses_threshold,
        score_after < {{ threshold }} and score_before >= {{ threshold }} as falls_at_step,
        decay_below_at,
        next_scored_at,
        cast({{ threshold }} as {{ type_double() }}) as mql_score_threshold,
        {{ cdp_profile_build_columns('stg_segment__events') }},
        {{ cdp_records_loaded_through(['crm', 'as_of']) }}
    from with_decay
)

select * from final
