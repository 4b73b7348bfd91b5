{#- Reading JSON fields and URL parts, behind adapter.dispatch so the models stay portable. -#}

{#- Text at a path of keys inside a JSON column: json_text('context', ['campaign', 'source']). -#}
{% macro json_text(column, keys) -%}
    {{ return(adapter.dispatch('json_text', 'cdp')(column, keys)) }}
{%- endmacro %}
{% macro default__json_text(column, keys) -%}
    json_extract_path_text({{ column }}, {% for k in keys %}'{{ k }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
{% macro duckdb__json_text(column, keys) -%}
    json_extract_string({{ column }}, '$.{{ keys | join(".") }}')
{%- endmacro %}
{% macro postgres__json_text(column, keys) -%}
    ({{ column }}::jsonb #>> '{ {{- keys | join(",") -}} }')
{%- endmacro %}
{% macro spark__json_text(column, keys) -%}
    get_json_object({{ column }}, '$.{{ keys | join(".") }}')
{%- endmacro %}

{#- Lowercased host of a URL (no scheme, port, path); null when the value is not a URL. -#}
{% macro url_host(column) -%}
    {{ return(adapter.dispatch('url_host', 'cdp')(column)) }}
{%- endmacro %}
{% macro default__url_host(column) -%}
    nullif(regexp_substr(lower({{ column }}), '^[a-z][a-z0-9+.-]*://([^/:?#]+)', 1, 1, 'e', 1), '')
{%- endmacro %}
{% macro duckdb__url_host(column) -%}
    nullif(regexp_extract(lower({{ column }}), '^[a-z][a-z0-9+.-]*://([^/:?#]+)', 1), '')
{%- endmacro %}
{% macro postgres__url_host(column) -%}
    substring(lower({{ column }}) from '^[a-z][a-z0-9+.-]*://([^/:?#]+)')
{%- endmacro %}
{% macro spark__url_host(column) -%}
    nullif(regexp_extract(lower({{ column }}), '^[a-z][a-z0-9+.-]*://([^/:?#]+)', 1), '')
{%- endmacro %}

{#- Decoded value of one query-string parameter of a URL. -#}
{% macro url_parameter(column, name) -%}
    {{ return(adapter.dispatch('url_parameter', 'cdp')(column, name)) }}
{%- endmacro %}
{% macro default__url_parameter(column, name) -%}
    nullif(regexp_substr({{ column }}, '[?&]{{ name }}=([^&#]*)', 1, 1, 'e', 1), '')
{%- endmacro %}
{% macro duckdb__url_parameter(column, name) -%}
    nullif(url_decode(replace(regexp_extract({{ column }}, '[?&]{{ name }}=([^&#]*)', 1), '+', ' ')), '')
{%- endmacro %}
{#- PostgreSQL: decoded as DuckDB does by cdp_url_decode (macro cdp_engine_functions). -#}
{% macro postgres__url_parameter(column, name) -%}
    nullif(cdp_url_decode(substring({{ column }} from '[?&]{{ name }}=([^&#]*)')), '')
{%- endmacro %}
{#- Spark: decoded as DuckDB does ('+' is a space); a malformed %-escape gives null, not an error. -#}
{% macro spark__url_parameter(column, name) -%}
    nullif(try_url_decode(regexp_extract({{ column }}, '[?&]{{ name }}=([^&#]*)', 1)), '')
{%- endmacro %}

{#- A UTM value as channel rules compare it: decoded, trimmed, lowercased, empty as null. -#}
{% macro normalize_utm(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{#- Several text fields of one JSON column, parsed once: a list (1-based) of the values at `keys_list`
    (each a list of keys). Read items with list_item(). -#}
{% macro json_texts(column, keys_list) -%}
    {{ return(adapter.dispatch('json_texts', 'cdp')(column, keys_list)) }}
{%- endmacro %}
{% macro default__json_texts(column, keys_list) -%}
    array_construct({% for keys in keys_list %}{{ default__json_text(column, keys) }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
{% macro duckdb__json_texts(column, keys_list) -%}
    json_extract_string({{ column }}, [{% for keys in keys_list %}'$.{{ keys | join(".") }}'{% if not loop.last %}, {% endif %}{% endfor %}])
{%- endmacro %}
{% macro postgres__json_texts(column, keys_list) -%}
    array[{% for keys in keys_list %}{{ postgres__json_text(column, keys) }}{% if not loop.last %}, {% endif %}{% endfor %}]
{%- endmacro %}
{% macro spark__json_texts(column, keys_list) -%}
    array({% for keys in keys_list %}{{ spark__json_text(column, keys) }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{#- Item `position` (1-based) of a list built by json_texts(). -#}
{% macro list_item(list_column, position) -%}
    {{ return(adapter.dispatch('list_item', 'cdp')(list_column, position)) }}
{%- endmacro %}
{% macro default__list_item(list_column, position) -%} get({{ list_column }}, {{ position - 1 }}) {%- endmacro %}
{% macro duckdb__list_item(list_column, position) -%} {{ list_column }}[{{ position }}] {%- endmacro %}
{% macro postgres__list_item(list_column, position) -%} ({{ list_column }})[{{ position }}] {%- endmacro %}

{#- Cast that gives null instead of failing when the text does not parse. -#}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast', 'cdp')(expression, type)) }}
{%- endmacro %}
{% macro default__try_cast(expression, type) -%} try_cast({{ expression }} as {{ type }}) {%- endmacro %}
{% macro postgres__try_cast(expression, type) -%}
    {%- set t = type | lower -%}
    {%- if 'timestamp' in t or t == 'date' -%}
        {#- PostgreSQL has no try_cast: cdp_try_timestamptz (macro cdp_engine_functions) returns null
            for text that does not read as a time -#}
        {%- if t == 'date' -%} cast(cdp_try_timestamptz(cast({{ expression }} as text)) as date)
        {%- else -%} cast(cdp_try_timestamptz(cast({{ expression }} as text)) as {{ type }})
        {%- endif -%}
    {%- else -%}
    case when cast({{ expression }} as text) ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$' then cast({{ expression }} as {{ type }}) end
    {%- endif -%}
{%- endmacro %}

{#- Helper functions an engine needs before the models run (on-run-start). PostgreSQL lacks two:
    a try-cast to timestamptz, and URL decoding: cdp_url_decode reads '+' as a space and each %XX
    escape as a byte of UTF-8, as DuckDB's url_decode does; an escape sequence that is not UTF-8
    gives null, as Spark's try_url_decode does. Text with neither '+' nor '%' (most values) is
    returned as it is without entering the plpgsql loop (the outer function is SQL, which the planner
    inlines). -#}
{% macro cdp_engine_functions() -%}
    {{ return(adapter.dispatch('cdp_engine_functions', 'cdp')()) }}
{%- endmacro %}
{% macro default__cdp_engine_functions() -%} select 1 {%- endmacro %}
{% macro postgres__cdp_engine_functions() -%}
    create or replace function cdp_try_timestamptz(value text) returns timestamptz
    language plpgsql immutable as $$
    begin
        return value::timestamptz;
    exception when others then
        return null;
    end $$;
    create or replace function cdp_url_decode_escapes(value text) returns text
    language plpgsql immutable strict as $$
    declare
        decoded bytea := ''::bytea;
        part text;
    begin
        for part in select m[1] from regexp_matches(value, '%[0-9A-Fa-f]{2}|[^%]+|%', 'g') as m loop
            if length(part) = 3 and left(part, 1) = '%' then
                decoded := decoded || decode(substr(part, 2), 'hex');
            else
                decoded := decoded || convert_to(part, 'UTF8');
            end if;
        end loop;
        return convert_from(decoded, 'UTF8');
    exception when others then
        return null;
    end $$;
    create or replace function cdp_url_decode(value text) returns text
    language sql immutable as $$
        select case when value ~ '[%+]' then cdp_url_decode_escapes(replace(value, '+', ' ')) else value end
    $$
{%- endmacro %}

{#- `not materialized` for a CTE read more than once that is cheaper to compute twice than to keep
    (wide rows at tens of millions would spill): each reader then only computes the columns it needs.
    Every import CTE (`x as (select * from ref('x'))`) is one: a name for a relation, never a copy. -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'cdp')()) }}
{%- endmacro %}
{% macro default__cte_not_materialized() -%}{%- endmacro %}
{% macro duckdb__cte_not_materialized() -%} not materialized {%- endmacro %}
{% macro postgres__cte_not_materialized() -%} not materialized {%- endmacro %}

{#- `materialized` for a CTE read more than once that costs more to compute again than to keep (a join
    of two large tables feeding both an aggregate and a window). -#}
{% macro cte_materialized() -%}
    {{ return(adapter.dispatch('cte_materialized', 'cdp')()) }}
{%- endmacro %}
{% macro default__cte_materialized() -%}{%- endmacro %}
{% macro duckdb__cte_materialized() -%} materialized {%- endmacro %}
{% macro postgres__cte_materialized() -%} materialized {%- endmacro %}
