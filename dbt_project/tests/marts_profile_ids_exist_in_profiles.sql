{#- Marts invariant: every profile a fact or mart row names is a profile in marts.dim_profiles (no
    orphan after a merge, an erasure or a model change). Profiles with a deletion request are left out
    of dim_profiles on purpose and erased from every other table by the privacy step that follows the
    build, so they are not orphans. Returns the orphans, per table. -#}
{#- attribution_data_driven_credits is built after Markov and Shapley, in a later dbt step; its own test
    (attribution_data_driven_credits_match_conversions) ties each row to a conversion of these facts. -#}
{{ config(meta={'dagster': {'ref': {'name': 'dim_profiles'}}}) }}
{%- set facts = ['fct_conversions', 'fct_attribution_touches', 'attribution_credits',
                 'fct_funnel_profiles', 'fct_opportunities', 'lead_scores', 'lead_score_history',
                 'lead_score_breakdown', 'lifecycle_stage_history', 'lifecycle_stage_signals',
                 'lifecycle_regression_attempts', 'profile_identifiers'] %}
{%- for fact in facts %}
select '{{ fact }}' as mart, f.profile_id
from {{ ref(fact) }} as f
where f.profile_id is not null
  and not exists (select 1 from {{ ref('dim_profiles') }} as p where p.profile_id = f.profile_id)
  and not exists (select 1 from {{ ref('int_privacy__deleted_profiles') }} as d where d.profile_id = f.profile_id)
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
