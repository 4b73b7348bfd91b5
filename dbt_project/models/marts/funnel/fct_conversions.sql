{#- One row per conversion of a resolved profile, as defined in seeds/conversion_definitions.csv:
    `source` event (a track event named `match`; one conversion per order_id when the event has
    one) or crm_opportunity (`match` created; won, when first won, valued at the amount won; or
    stage:<name> for the first snapshot in that stage). Values from the event's revenue, the opportunity's latest amount, or a constant, in
    their own currency and in var cdp__reporting_currency (seeds/currency_rates.csv). -#}
-- depends_on: {{ ref('conversion_definitions') }}, {{ ref('int_funnel__profile_events') }}, {{ ref('int_funnel__opportunities') }}, {{ ref('stg_crm__opportunity_snapshots') }}
{%- set definitions = cdp_rule_rows('conversion_definitions', 'conversion_name') %}
{%- set reporting = var('cdp__reporting_currency') %}

with int_funnel__profile_events as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__profile_events') }}
),

int_funnel__opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__opportunities') }}
),

stg_crm__opportunity_snapshots as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunity_snapshots') }}
),

conversion_definitions as {{ cte_not_materialized() }} (
    select * from {{ ref('conversion_definitions') }}
),

currency_rates as {{ cte_not_materialized() }} (
    select * from {{ ref('currency_rates') }}
),

{%- if not definitions %}
conversions as (
    select
        cast(null as {{ dbt.type_string() }}) as conversion_name, cast(null as {{ dbt.type_string() }}) as profile_id,
        cast(null as {{ type_timestamptz() }}) as converted_at, cast(null as decimal(18, 2)) as conversion_value,
        cast(null as {{ dbt.type_string() }}) as currency, cast(null as {{ dbt.type_string() }}) as source, cast(null as {{ dbt.type_string() }}) as source_key
    where 1 = 0
),
{%- else %}
conversions as (
    {%- for d in definitions %}
    {%- set value_source = d.value_source %}
    {%- if value_source not in ['event_revenue', 'opportunity_amount', 'constant'] %}
        {{ exceptions.raise_compiler_error("conversion_definitions.csv, conversion " ~ d.conversion_name ~ ": value_source must be event_revenue, opportunity_amount or constant, got '" ~ value_source ~ "'") }}
    {%- endif %}
    {%- if value_source == 'constant' %}
        {%- set value_sql = 'cast(' ~ (d.constant_value or 0) ~ ' as decimal(18, 2))' %}
        {%- set currency_sql = cdp_literal((d.currency or reporting) | upper) %}
    {%- endif %}
    {%- if d.source == 'event' %}
    {%- if value_source == 'event_revenue' %}
        {%- set value_sql = 'coalesce(e.revenue, 0)' %}
        {%- set currency_sql = "coalesce(e.currency, " ~ cdp_literal((d.currency or reporting) | upper) ~ ")" %}
    {%- elif value_source == 'opportunity_amount' %}
        {{ exceptions.raise_compiler_error("conversion_definitions.csv, conversion " ~ d.conversion_name ~ ": an event conversion cannot take its value from opportunity_amount") }}
    {%- endif %}
    select
        {{ cdp_literal(d.conversion_name) }} as conversion_name, profile_id, converted_at, conversion_value,
        currency, 'event' as source, source_key
    from (
        select
            e.profile_id,
            e.occurred_at as converted_at,
            {{ value_sql }} as conversion_value,
            {{ currency_sql }} as currency,
            e.message_id as source_key,
            row_number() over (partition by coalesce(e.order_id, e.message_id)
                               order by e.occurred_at, e.message_id) as occurrence
        from int_funnel__profile_events as e
        where e.event_type = 'track' and lower(e.event_name) = lower({{ cdp_literal(d.match) }})
    ) as matched
    where occurrence = 1
    {%- elif d.source == 'crm_opportunity' %}
    {%- if value_source == 'opportunity_amount' and d.match == 'won' %}
        {%- set value_sql = 'coalesce(o.won_amount, o.amount, 0)' %}
        {%- set currency_sql = 'coalesce(o.won_currency, o.currency)' %}
    {%- elif value_source == 'opportunity_amount' %}
        {%- set value_sql = 'coalesce(o.amount, 0)' %}
        {%- set currency_sql = 'o.currency' %}
    {%- elif value_source == 'event_revenue' %}
        {{ exceptions.raise_compiler_error("conversion_definitions.csv, conversion " ~ d.conversion_name ~ ": an opportunity conversion cannot take its value from event_revenue") }}
    {%- endif %}
    select
        {{ cdp_literal(d.conversion_name) }} as conversion_name, o.profile_id,
        {%- if d.match == 'created' %}
        o.created_at as converted_at,
        {%- elif d.match == 'won' %}
        o.first_won_at as converted_at,
        {%- elif (d.match or '').startswith('stage:') %}
        s.first_at as converted_at,
        {%- else %}
        {{ exceptions.raise_compiler_error("conversion_definitions.csv, conversion " ~ d.conversion_name ~ ": match for crm_opportunity must be created, won or stage:<name>, got '" ~ d.match ~ "'") }}
        {%- endif %}
        {{ value_sql }} as conversion_value,
        {{ currency_sql }} as currency,
        'crm_opportunity' as source,
        o.opportunity_id as source_key
    from int_funnel__opportunities as o
    {%- if (d.match or '').startswith('stage:') %}
    inner join (
        select opportunity_id, min(snapshot_at) as first_at
        from stg_crm__opportunity_snapshots
        where stage = lower({{ cdp_literal(d.match[6:] | trim) }})
        group by opportunity_id
    ) as s on s.opportunity_id = o.opportunity_id
    {%- endif %}
    where o.created_at is not null
    {%- if d.match == 'won' %} and o.first_won_at is not null{% endif %}
    {%- else %}
        {{ exceptions.raise_compiler_error("conversion_definitions.csv, conversion " ~ d.conversion_name ~ ": source must be event or crm_opportunity, got '" ~ d.source ~ "'") }}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
{%- endif %}

flags as (
    select conversion_name, is_revenue from conversion_definitions
),

final as (
    select
        {{ dbt.hash("c.conversion_name || ':' || c.source_key") }} as conversion_id,
        c.conversion_name,
        c.profile_id,
        c.converted_at,
        c.conversion_value,
        c.currency,
        {{ to_reporting_currency('c.conversion_value') }} as conversion_value_reporting,
        {{ cdp_literal(reporting | upper) }} as reporting_currency,
        coalesce(f.is_revenue, false) as is_revenue,
        c.source,
        c.source_key,
        row_number() over (partition by c.profile_id, c.conversion_name order by c.converted_at, c.source_key) = 1
            as is_first_of_profile
    from conversions as c
    left join flags as f on f.conversion_name = c.conversion_name
    left join currency_rates as fx on fx.currency = c.currency
    where c.converted_at is not null
)

select * from final
