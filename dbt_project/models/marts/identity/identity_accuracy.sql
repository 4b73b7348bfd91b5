{#- Identity resolution measured against planted truth, when there is some: the generator writes
    which person every identifier, event and contact belongs to (`cdp generate` ground_truth/ beside
    the landing folder; the `cdp` CLI and Dagster pass it as CDP_GROUND_TRUTH_DIR). Without it, or on
    an engine that cannot read Parquet files (PostgreSQL), this model holds one row with
    has_ground_truth = false.

    Pairwise metrics over the identifiers seen in the data (placeholders and devices borrowed from
    someone else are not anyone's identifiers and are left out):
    - precision: of the identifier pairs placed in one profile, the share that belong to one person;
    - recall: of the pairs the data can link (two identifiers of one person connected through pairs
      of that person's identifiers seen together in any record), the share placed in one profile;
    - strict recall: of all pairs belonging to one person, the share placed in one profile
      (includes devices a person never identified on, which no resolver can link). -#}
-- depends_on: {{ ref('int_identity__identifiers') }}, {{ ref('int_identity__edges') }}, {{ ref('identity_profile_registry') }}, {{ ref('int_privacy__deleted_profiles') }}
{%- set truth_dir = env_var('CDP_GROUND_TRUTH_DIR', '') if cdp_reads_parquet() else '' -%}
{%- set work = this.schema ~ '.' ~ this.identifier ~ '__work' -%}
{%- if truth_dir and execute -%}
    {#- linkable groups: the components of each person's own identifiers, over every pair the data
        observed together (any rule, allowed or not) whose two sides are that same person's -#}
    {%- set truth_edges -%}
        with truth as (
            select identifier_type || ':' || identifier as node_key, min(person_id) as person_id
            from {{ cdp_read_parquet(truth_dir ~ '/identifiers/*.parquet') }}
            where not is_shared_device
            group by 1
        ),
        owned as (
            select i.node_id, t.person_id
            from {{ ref('int_identity__identifiers') }} as i
            inner join truth as t on t.node_key = i.node_key
        )
        select e.left_node_id as u, e.right_node_id as v
        from {{ ref('int_identity__edges') }} as e
        inner join owned as l on l.node_id = e.left_node_id
        inner join owned as r on r.node_id = e.right_node_id
        where l.person_id = r.person_id
    {%- endset -%}
    {%- do connected_components(truth_edges, work ~ "_cc") -%}
{%- endif %}
{{ config(post_hook=["drop table if exists {{ this.schema }}.{{ this.identifier }}__work_cc_labels"]) }}

{% if truth_dir -%}
with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__identifiers') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

linkable_labels as {{ cte_not_materialized() }} (
    select * from {{ work }}_cc_labels
),

truth as (
    select identifier_type || ':' || identifier as node_key, min(person_id) as person_id
    from {{ cdp_read_parquet(truth_dir ~ '/identifiers/*.parquet') }}
    where not is_shared_device
    group by 1
    union all
    -- duplicate CRM contacts are the same person as the contact they duplicate
    select 'crm_contact_id:' || contact_id, person_id
    from {{ cdp_read_parquet(truth_dir ~ '/contact_people/*.parquet') }}
    where contact_id not in (select identifier from {{ cdp_read_parquet(truth_dir ~ '/identifiers/*.parquet') }}
                             where identifier_type = 'crm_contact_id')
),

evaluated as (
    {#- the truth's identifiers the data holds, with our profile and their linkable group -#}
    select
        t.node_key,
        t.person_id,
        r.profile_id,
        -- a node no same-person pair reaches is a group of its own: its id is no component's label
        coalesce(l.label, n.node_id) as linkable_group
    from truth as t
    inner join identity_profile_registry as r on r.node_key = t.node_key
    inner join int_identity__identifiers as n on n.node_key = t.node_key
    left join linkable_labels as l on l.node = n.node_id
    -- people with a deletion request are erased after the build: scored as a rebuild without them
    where r.profile_id not in (select profile_id from int_privacy__deleted_profiles)
),

pair_counts as (
    select
        (select cast(sum(n * (n - 1) / 2) as bigint) from (select count(*) as n from evaluated group by profile_id) as g) as predicted_pairs,
        (select cast(sum(n * (n - 1) / 2) as bigint) from (select count(*) as n from evaluated group by profile_id, person_id) as g) as correct_pairs,
        (select cast(sum(n * (n - 1) / 2) as bigint) from (select count(*) as n from evaluated group by person_id, linkable_group) as g) as linkable_pairs,
        (select cast(sum(n * (n - 1) / 2) as bigint) from (select count(*) as n from evaluated group by profile_id, person_id, linkable_group) as g) as linked_pairs,
        (select cast(sum(n * (n - 1) / 2) as bigint) from (select count(*) as n from evaluated group by person_id) as g) as person_pairs,
        (select count(*) from evaluated) as identifiers_evaluated,
        (select count(distinct person_id) from evaluated) as people_evaluated,
        (select count(distinct profile_id) from evaluated) as profiles_evaluated
),

final as (
    select
        true as has_ground_truth,
        {{ cdp_literal(truth_dir) }} as ground_truth_dir,
        identifiers_evaluated,
        people_evaluated,
        profiles_evaluated,
        predicted_pairs,
        correct_pairs,
        linkable_pairs,
        linked_pairs,
        person_pairs,
        cast(correct_pairs as {{ type_double() }}) / nullif(predicted_pairs, 0) as pairwise_precision,
        cast(linked_pairs as {{ type_double() }}) / nullif(linkable_pairs, 0) as pairwise_recall,
        cast(correct_pairs as {{ type_double() }}) / nullif(person_pairs, 0) as pairwise_recall_strict
    from pair_counts
)

select * from final
{%- else -%}
with final as (
    select
        false as has_ground_truth,
        cast(null as {{ dbt.type_string() }}) as ground_truth_dir,
        {%- for c in ['identifiers_evaluated', 'people_evaluated', 'profiles_evaluated', 'predicted_pairs', 'correct_pairs',
                      'linkable_pairs', 'linked_pairs', 'person_pairs'] %}
        cast(null as bigint) as {{ c }},
        {%- endfor %}
        cast(null as {{ type_double() }}) as pairwise_precision,
        cast(null as {{ type_double() }}) as pairwise_recall,
        cast(null as {{ type_double() }}) as pairwise_recall_strict
)

select * from final
{%- endif %}
