{#- A non-negative 63-bit integer hash of a text value: the same value gives the same number on every
    run of one engine (no ordering pass over the data, unlike row_number). Numbers are not unique by
    construction: a caller that needs unique ids deals with the rare collision itself
    (int_identity__identifiers does). -#}
{% macro cdp_hash_id(text) -%}
    {{ return(adapter.dispatch('cdp_hash_id', 'cdp')(text)) }}
{%- endmacro %}
{% macro default__cdp_hash_id(text) -%}
    {#- PostgreSQL 11+: the 64-bit hash its hash indexes use, sign bit cleared -#}
    (hashtextextended({{ text }}, 0) & 9223372036854775807)
{%- endmacro %}
{% macro duckdb__cdp_hash_id(text) -%}
    cast(hash({{ text }}) >> 1 as bigint)
{%- endmacro %}
{% macro spark__cdp_hash_id(text) -%}
    (xxhash64({{ text }}) & 9223372036854775807)
{%- endmacro %}
