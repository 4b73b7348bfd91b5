{#- Sums and means of floating-point values that do not depend on the order the rows arrive in.
    A parallel engine adds doubles in whatever order its threads finish, so the last bits of a plain
    sum change from one build to the next, and a full refresh would not give byte for byte what a
    sequence of incremental runs gave. Each value is rounded to 12 decimals and added exactly as a
    decimal; the result is a double again. -#}
{% macro exact_sum(expr) -%}
    cast(sum(cast({{ expr }} as decimal(38, 12))) as {{ type_double() }})
{%- endmacro %}

{% macro exact_avg(expr) -%}
    (cast(sum(cast({{ expr }} as decimal(38, 12))) as {{ type_double() }}) / nullif(count({{ expr }}), 0))
{%- endmacro %}
