{#- Helpers the funnel, scoring and conversion models share: rules from seeds turned into SQL
    conditions at compile time, the as-of moment, day arithmetic and medians that run on any engine. -#}

{#- A string as a SQL literal. -#}
{#- A value from a rule (seed or var) as a SQL string literal. Spark's literals treat a backslash as an
    escape (a regex's \+ would lose its backslash), so there both backslash and quote are escaped. -#}
{% macro cdp_literal(value) -%}
    {{ return(adapter.dispatch('cdp_literal', 'cdp')(value)) }}
{%- endmacro %}
{% macro default__cdp_literal(value) -%}
    '{{ (value ~ "") | replace("'", "''") }}'
{%- endmacro %}
{% macro spark__cdp_literal(value) -%}
    '{{ (value ~ "").replace("\\", "\\\\").replace("'", "\\'") }}'
{%- endmacro %}

{#- A '|'-separated rule value as a SQL list of lowercased literals: ('a', 'b'). -#}
{% macro cdp_literal_list(values) -%}
    ({%- for v in (values ~ "").split('|') %}{{ cdp_literal(v | trim | lower) }}{% if not loop.last %}, {% endif %}{% endfor -%})
{%- endmacro %}

{#- The condition a rule row (operator, value) puts on `column`:
    in       - case-insensitive equality with one of the '|'-separated values;
    regex    - the lowercased column fully matches the lowercased regular expression;
    between  - 'low|high' inclusive numeric bounds, either side may be empty (open). -#}
{% macro cdp_rule_condition(column, operator, value, rule_id) -%}
    {%- if operator == 'in' -%}
        lower(cast({{ column }} as {{ dbt.type_string() }})) in {{ cdp_literal_list(value) }}
    {%- elif operator == 'regex' -%}
        {{ cdp_regex_full_match('lower(' ~ column ~ ')', cdp_literal(value | lower)) }}
    {%- elif operator == 'between' -%}
        {%- set bounds = (value ~ "").split('|') -%}
        {%- if bounds | length != 2 -%}
            {{ exceptions.raise_compiler_error("rule " ~ rule_id ~ ": operator between needs 'low|high', got '" ~ value ~ "'") }}
        {%- endif -%}
        ({{ column }} is not null
         {%- if bounds[0] | trim %} and {{ column }} >= {{ bounds[0] | trim | float }}{% endif -%}
         {%- if bounds[1] | trim %} and {{ column }} <= {{ bounds[1] | trim | float }}{% endif %})
    {%- else -%}
        {{ exceptions.raise_compiler_error("rule " ~ rule_id ~ ": unknown operator '" ~ operator ~ "' (expected in, regex or between)") }}
    {%- endif -%}
{%- endmacro %}

{#- The moment "now" means for time-relative rules: var('cdp__as_of'), else the latest staged record
    (event, CRM contact update or opportunity snapshot) of anyone not being erased
    (int_profiles__as_of), so a rerun over the same data gives the same answer. A scalar SQL
    expression. -#}
{% macro cdp_as_of() -%}
    {%- if var('cdp__as_of') -%}
        cast({{ cdp_literal(var('cdp__as_of')) }} as {{ type_timestamptz() }})
    {%- else -%}
        (select as_of from {{ ref('int_profiles__as_of') }})
    {%- endif -%}
{%- endmacro %}

{#- Fractional days from timestamp `start` to timestamp `finish`. -#}
{% macro cdp_days_between(start, finish) -%}
    {{ return(adapter.dispatch('cdp_days_between')(start, finish)) }}
{%- endmacro %}
{% macro default__cdp_days_between(start, finish) -%}
    ({{ dbt.datediff(start, finish, 'second') }} / 86400.0)
{%- endmacro %}
{% macro duckdb__cdp_days_between(start, finish) -%}
    ((epoch_ms({{ finish }}) - epoch_ms({{ start }})) / 86400000.0)
{%- endmacro %}
{% macro postgres__cdp_days_between(start, finish) -%}
    (extract(epoch from ({{ finish }}) - ({{ start }})) / 86400.0)
{%- endmacro %}
{#- Spark reads 86400000000.0 as a decimal, and a decimal division keeps 6 decimals: divide doubles -#}
{% macro spark__cdp_days_between(start, finish) -%}
    (cast(unix_micros({{ finish }}) - unix_micros({{ start }}) as double) / 86400000000.0d)
{%- endmacro %}

{#- Median of a numeric expression (an aggregate). -#}
{% macro cdp_median(expression) -%}
    {{ return(adapter.dispatch('cdp_median')(expression)) }}
{%- endmacro %}
{% macro default__cdp_median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
{% macro duckdb__cdp_median(expression) -%}
    median({{ expression }})
{%- endmacro %}
{% macro spark__cdp_median(expression) -%}
    percentile({{ expression }}, 0.5)
{%- endmacro %}

{#- Amount in the reporting currency (var cdp__reporting_currency) using seeds/currency_rates.csv,
    joined as `alias`; null when the currency has no rate (a dbt test reports such currencies). -#}
{% macro to_reporting_currency(amount, alias='fx') -%}
    cast({{ amount }} * {{ alias }}.rate_to_reporting_currency as decimal(18, 2))
{%- endmacro %}

{#- The seed `seed` as a query at compile time reads it: its ref, or, inside a dbt unit test (which
    stands fixtures in for refs, CTEs that a compile-time query cannot read), the seed's table in the
    warehouse (seeds live in the `rules` schema): the rules under test are the shipped ones. -#}
{% macro cdp_seed_relation(seed) -%}
    {%- set relation = ref(seed) -%}
    {%- if (relation | string).startswith('__dbt__cte__') -%}
        {%- set relation = adapter.get_relation(database=target.database,
                                                schema=generate_schema_name('rules', none), identifier=seed) -%}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{#- Rows of one rule seed, read at compile time, as a list of dicts. -#}
{% macro cdp_rule_rows(seed, order_by) -%}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- set result = run_query("select * from " ~ cdp_seed_relation(seed) ~ " order by " ~ order_by) -%}
        {%- for row in result.rows -%}
            {%- set item = {} -%}
            {%- for name in result.column_names -%}
                {%- do item.update({name: row[name]}) -%}
            {%- endfor -%}
            {%- do rows.append(item) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(rows) }}
{%- endmacro %}

{#- Aggregate: `value` of the row first by `order_by` (a comma-separated list of sort keys), nulls
    kept (the first row's value even when null), deterministic when the keys are unique. -#}
{% macro cdp_first_value(value, order_by) -%}
    {{ return(adapter.dispatch('cdp_first_value')(value, order_by)) }}
{%- endmacro %}
{% macro default__cdp_first_value(value, order_by) -%}
    (array_agg({{ value }} order by {{ order_by }}))[1]
{%- endmacro %}
{% macro duckdb__cdp_first_value(value, order_by) -%}
    arg_min_null({{ value }}, ({{ order_by }}))
{%- endmacro %}
{#- Spark: min_by over a struct of the ordering columns (structs compare field by field); a null value
    on the first row is returned as null, as array_agg(...)[1] does. -#}
{% macro spark__cdp_first_value(value, order_by) -%}
    min_by({{ value }}, struct({{ order_by }}))
{%- endmacro %}

{#- Database health rules (var cdp__health_rules) as SQL: a record is complete when every `required`
    column and every applicable `required_when` entry is present. -#}
{% macro cdp_health_complete(rule) -%}
    {%- set parts = [] -%}
    {%- for column in rule.get('required', []) -%}
        {%- do parts.append(adapter.quote(column) ~ ' is not null') -%}
    {%- endfor -%}
    {%- for entry in rule.get('required_when', []) -%}
        {%- if entry.get('json') -%}
            {%- set present = json_text(adapter.quote(entry['json'][0]), entry['json'][1:]) ~ ' is not null' -%}
        {%- else -%}
            {%- set present = adapter.quote(entry['column']) ~ ' is not null' -%}
        {%- endif -%}
        {%- do parts.append('(not (' ~ entry['when'] ~ ') or ' ~ present ~ ')') -%}
    {%- endfor -%}
    {{ parts | join(' and ') if parts else 'true' }}
{%- endmacro %}

{#- When the record happened: the first of `record_time` that reads as `record_time_type`, plus
    `record_time_plus_days` (a day's spend is complete at the end of the day). -#}
{% macro cdp_health_record_time(rule) -%}
    {%- set kind = rule.get('record_time_type', 'timestamp') -%}
    {%- set sql_type = 'date' if kind == 'date' else type_timestamptz() -%}
    {%- set read = [] -%}
    {%- for column in rule['record_time'] -%}
        {%- do read.append(try_cast(adapter.quote(column), sql_type)) -%}
    {%- endfor -%}
    {%- set first = 'coalesce(' ~ (read | join(', ')) ~ ')' if read | length > 1 else read[0] -%}
    {%- if rule.get('record_time_plus_days') -%}
        {{ return(cdp_dateadd('day', rule['record_time_plus_days'] | int, first)) }}
    {%- else -%}
        {{ return(first) }}
    {%- endif -%}
{%- endmacro %}

{#- Two relations' `month` columns are the same month, or both null (the all-time rows). -#}
{% macro cdp_same_month(left, right) -%}
    ({{ left }}.month = {{ right }}.month or ({{ left }}.month is null and {{ right }}.month is null))
{%- endmacro %}
