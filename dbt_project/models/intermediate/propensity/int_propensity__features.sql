{#- Point-in-time features of every profile at each propensity cut-off, and whether it converted in the
    `cdp__propensity_horizon_days` after it (the label). Nothing at or after a cut-off is read for its
    features: events, touches, conversions before it and the lead score it had then. Cut-offs:
    - score: the as-of moment (no label yet); the model's scores are for these rows, built here;
    - validate: the latest point of the horizon grid whose label window has ended by the as-of moment;
    - train: `cdp__propensity_training_cutoffs` grid points before that.
    The labelled rows (validate, train) come from int_propensity__training_rows, kept up to date per
    profile; the grid is in macros/propensity.sql. Profiles already converted by a cut-off are not in
    it (the model predicts a first conversion). Counts enter as ln(1 + n), so the model's weights are
    per doubling, not per event. -#}
{%- set columns = cdp_propensity_feature_columns() %}

with int_propensity__training_rows as {{ cte_not_materialized() }} (
    select * from {{ ref('int_propensity__training_rows') }}
),

score_rows as (
    {{ cdp_propensity_feature_rows("select " ~ cdp_as_of() ~ " as cutoff_at", labelled=false) }}
),

labelled_rows as (
    select
        case when t.cutoff_at = {{ cdp_propensity_grid_cutoff(1) }} then 'validate' else 'train' end
            as cutoff_role,
        t.*
    from int_propensity__training_rows as t
),

roles as (
    select 'score' as cutoff_role, s.* from score_rows as s
    union all
    select
        l.cutoff_role, l.cutoff_at, l.profile_id, l.converted_in_horizon
        {%- for column in columns %}, l.{{ column }}{% endfor %}
    from labelled_rows as l
),

final as (
    select
        cutoff_role,
        cutoff_at,
        profile_id,
        md5(cutoff_role || ':' || profile_id) as sample_key,
        converted_in_horizon
        {%- for column in columns %},
        {{ column }}
        {%- endfor %}
    from roles
)

select * from final
