{#- The propensity model's labelled rows: features and label of every profile at the validation and
    training cut-offs of the grid (macros/propensity.sql). int_propensity__features adds the score
    cut-off and each row's role.

    Rebuilt per profile, as the per-profile models are (macros/cross_db/profile_incremental.sql), with
    the profiles of CRM rows staged since the last build among the changed ones: a run recomputes the
    changed profiles at the cut-offs the table already holds, and every profile at a cut-off it does
    not (the grid moved a horizon on); rows at cut-offs the grid left are deleted. Spark: rebuilt whole. -#}
-- depends_on: {{ ref('identity_profile_assignments') }}, {{ ref('identity_profile_registry') }}, {{ ref('stg_crm__contacts') }}, {{ ref('stg_crm__opportunity_snapshots') }}, {{ ref('int_identity__event_profiles') }}, {{ ref('int_privacy__deleted_profiles') }}, {{ ref('int_profiles__as_of') }}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_propensity_prepare_training_rows(this) }}",
          post_hook="{{ cdp_drop_changed_profiles(this) }}") }}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

grid as (
    {{ cdp_propensity_labelled_cutoffs() }}
),
{%- if is_incremental() %}

kept as (
    {#- the cut-offs the table holds after the pre-hook: only the changed profiles are built there -#}
    select distinct k.cutoff_at from {{ this }} as k
),
{%- endif %}

feature_rows as (
    {%- if is_incremental() %}
    select * from (
        {{ cdp_propensity_feature_rows("select g.cutoff_at from grid as g where g.cutoff_at in (select k.cutoff_at from kept as k)",
                                       cdp_changed_profiles_relation(this)) }}
    ) as changed_rows
    union all
    select * from (
        {{ cdp_propensity_feature_rows("select g.cutoff_at from grid as g where g.cutoff_at not in (select k.cutoff_at from kept as k)") }}
    ) as new_cutoff_rows
    {%- else %}
    select * from (
        {{ cdp_propensity_feature_rows("select g.cutoff_at from grid as g") }}
    ) as all_rows
    {%- endif %}
),

final as (
    select
        f.*,
        {{ cdp_profile_build_columns('stg_segment__events') }},
        {{ cdp_records_loaded_through(['crm']) }}
    from feature_rows as f
)

select * from final
