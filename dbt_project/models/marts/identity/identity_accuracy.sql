{#- Identity resolution measured against planted truth, when there is some: the generator writes
    which person every identifier, event and contact belongs to (`cdp generate` ground_truth/ beside
    the landing folder; the `cdp` CLI and Dagster pass it as CDP_GROUND_TRUTH_DIR). Without it this
    model holds one row with has_ground_truth = false.

    Pairwise metrics over the identifiers seen in the data (placeholders and devices borrowed from
    someone else are not anyone's identifiers and are left out):
    - precision: of the identifier pairs placed in one profile, the share that belong to one person;
    - recall: of the pairs the data can link (two identifiers of one person connected through that
      person's own messages and CRM records), the share placed in one profile;
    - strict recall: of all pairs belonging to one person, the share placed in one profile
      (includes devices a person never identified on, which no resolver can link). -#}
-- depends_on: {{ ref('stg_segment__events') }}, {{ ref('stg_crm__contacts') }}, {{ ref('stg_crm__opportunities') }}, {{ ref('identity_profile_registry') }}
{%- set truth_dir = env_var('CDP_GROUND_TRUTH_DIR', '') -%}
{%- set work = this.schema ~ '.' ~ this.identifier ~ '__work' -%}
{%- if truth_dir and execute -%}
    {#- linkable groups: components of each person's own identifiers, linked where they appear together -#}
    {%- set truth_edges -%}
        with truth as (
            select identifier_type || ':' || identifier as node_key, person_id
            from {{ cdp_read_parquet(truth_dir ~ '/identifiers/*.parquet') }}
            where not is_shared_device
        ),
        event_ids as (
            select t.person_id, e.message_id,
                   'user_id:' || e.user_id as u, 'anonymous_id:' || e.anonymous_id as a,
                   'anonymous_id:' || e.previous_id as pa, 'device_id:' || e.device_id as d,
                   'email:' || e.email as m, 'phone:' || e.phone_e164 as p
            from {{ ref('stg_segment__events') }} as e
            inner join {{ cdp_read_parquet(truth_dir ~ '/event_people/*.parquet') }} as t on t.message_id = e.message_id
        ),
        together as (
            select person_id, coalesce(u, a) as x, y
            from event_ids
            cross join lateral (values (a), (pa), (d), (m), (p)) as o (y)
            where y is not null and coalesce(u, a) is not null
            union all
            select t.person_id, 'crm_contact_id:' || c.contact_id, y
            from {{ ref('stg_crm__contacts') }} as c
            inner join {{ cdp_read_parquet(truth_dir ~ '/contact_people/*.parquet') }} as t on t.contact_id = c.contact_id
            cross join lateral (values ('email:' || c.email), ('phone:' || c.phone_e164)) as o (y)
            where y is not null
            union all
            select t.person_id, 'crm_contact_id:' || o.contact_id, 'opportunity_id:' || o.opportunity_id
            from {{ ref('stg_crm__opportunities') }} as o
            inner join {{ cdp_read_parquet(truth_dir ~ '/contact_people/*.parquet') }} as t on t.contact_id = o.contact_id
        )
        select distinct g.person_id, g.x, g.y
        from together as g
        inner join truth as tx on tx.node_key = g.x and tx.person_id = g.person_id
        inner join truth as ty on ty.node_key = g.y and ty.person_id = g.person_id
        where g.x <> g.y
    {%- endset -%}
    {{ cdp_replace_table(work ~ '_edges', truth_edges) }}
    {{ cdp_replace_table(work ~ '_nodes', "select node_key, row_number() over (order by node_key) as node_id from (select x as node_key from " ~ work ~ "_edges union select y from " ~ work ~ "_edges) as n") }}
    {%- do connected_components("select nx.node_id as u, ny.node_id as v from " ~ work ~ "_edges as e inner join " ~ work ~ "_nodes as nx on nx.node_key = e.x inner join " ~ work ~ "_nodes as ny on ny.node_key = e.y", work ~ "_cc") -%}
{%- endif %}
{{ config(post_hook=["{% for t in ['edges', 'nodes', 'cc_labels'] %}drop table if exists {{ this.schema }}.{{ this.identifier }}__work_{{ t }}; {% endfor %}"]) }}

{% if truth_dir -%}
with truth as (
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
        coalesce(l.label, -row_number() over (order by t.node_key)) as linkable_group
    from truth as t
    inner join {{ ref('identity_profile_registry') }} as r on r.node_key = t.node_key
    left join {{ work }}_nodes as n on n.node_key = t.node_key
    left join {{ work }}_cc_labels as l on l.node = n.node_id
),

pair_counts as (
    select
        (select sum(n * (n - 1) / 2) from (select count(*) as n from evaluated group by profile_id) as g) as predicted_pairs,
        (select sum(n * (n - 1) / 2) from (select count(*) as n from evaluated group by profile_id, person_id) as g) as correct_pairs,
        (select sum(n * (n - 1) / 2) from (select count(*) as n from evaluated group by person_id, linkable_group) as g) as linkable_pairs,
        (select sum(n * (n - 1) / 2) from (select count(*) as n from evaluated group by profile_id, person_id, linkable_group) as g) as linked_pairs,
        (select sum(n * (n - 1) / 2) from (select count(*) as n from evaluated group by person_id) as g) as person_pairs,
        (select count(*) from evaluated) as identifiers_evaluated,
        (select count(distinct person_id) from evaluated) as people_evaluated,
        (select count(distinct profile_id) from evaluated) as profiles_evaluated
)

select
    true as has_ground_truth,
    '{{ truth_dir }}' as ground_truth_dir,
    identifiers_evaluated,
    people_evaluated,
    profiles_evaluated,
    predicted_pairs,
    correct_pairs,
    linkable_pairs,
    linked_pairs,
    person_pairs,
    cast(correct_pairs as double) / nullif(predicted_pairs, 0) as pairwise_precision,
    cast(linked_pairs as double) / nullif(linkable_pairs, 0) as pairwise_recall,
    cast(correct_pairs as double) / nullif(person_pairs, 0) as pairwise_recall_strict
from pair_counts
{%- else -%}
select
    false as has_ground_truth,
    cast(null as varchar) as ground_truth_dir,
    {%- for c in ['identifiers_evaluated', 'people_evaluated', 'profiles_evaluated', 'predicted_pairs', 'correct_pairs',
                  'linkable_pairs', 'linked_pairs', 'person_pairs'] %}
    cast(null as bigint) as {{ c }},
    {%- endfor %}
    cast(null as double) as pairwise_precision,
    cast(null as double) as pairwise_recall,
    cast(null as double) as pairwise_recall_strict
{%- endif %}
