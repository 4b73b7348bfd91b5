{#- Why every lead score is what it is: one row per profile and scoring rule that contributed
    (seeds/lead_score_rules.csv). Fit rules count once; engagement rules sum their events' points,
    each halved every var cdp__lead_score_half_life_days days before the as-of moment. Points are
    rounded to the cent per row and marts.lead_scores sums exactly these rows. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
{%- set half_life = var('cdp__lead_score_half_life_days') | float %}
{%- if half_life <= 0 %}
    {{ exceptions.raise_compiler_error("var cdp__lead_score_half_life_days must be positive, got " ~ half_life) }}
{%- endif %}

with lead_score_rules as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_score_rules') }}
),

int_scoring__fit_matches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_scoring__fit_matches') }}
),

int_scoring__engagement_matches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_scoring__engagement_matches') }}
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

rules as (
    select rule_id, attribute from lead_score_rules
),

final as (
    select
        f.profile_id,
        f.rule_id,
        'fit' as category,
        f.attribute,
        f.matched_value,
        1 as occurrences,
        cast(f.points as decimal(38, 2)) as undecayed_points,
        f.points,
        cast(null as {{ type_timestamptz() }}) as last_occurred_at,
        a.as_of
    from int_scoring__fit_matches as f
    cross join as_of as a

    union all

    select
        e.profile_id,
        e.rule_id,
        'engagement' as category,
        max(r.attribute) as attribute,
        cast(null as {{ dbt.type_string() }}) as matched_value,
        count(*) as occurrences,
        cast(sum(e.points) as decimal(38, 2)) as undecayed_points,
        cast(round(sum(e.points * power(0.5, {{ cdp_days_between('e.occurred_at', 'a.as_of') }} / {{ half_life }})), 2)
             as decimal(18, 2)) as points,
        max(e.occurred_at) as last_occurred_at,
        a.as_of
    from int_scoring__engagement_matches as e
    cross join as_of as a
    left join rules as r on r.rule_id = e.rule_id
    group by e.profile_id, e.rule_id, a.as_of
)

select * from final
