{#- `timestamp` plus `interval` (an integer SQL expression) of `datepart`, keeping fractions of a
    second. dbt's dateadd on Spark goes through whole unix seconds and drops the milliseconds;
    Spark's timestampadd keeps them. -#}
{% macro cdp_dateadd(datepart, interval, timestamp) -%}
    {{ return(adapter.dispatch('cdp_dateadd', 'cdp')(datepart, interval, timestamp)) }}
{%- endmacro %}
{% macro default__cdp_dateadd(datepart, interval, timestamp) -%}
    {{ dbt.dateadd(datepart, interval, timestamp) }}
{%- endmacro %}
{% macro spark__cdp_dateadd(datepart, interval, timestamp) -%}
    timestampadd({{ datepart | upper }}, {{ interval }}, {{ timestamp }})
{%- endmacro %}
