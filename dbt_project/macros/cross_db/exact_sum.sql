{#- Sums and means of floating-point values that do not depend on the order the rows arrive in.
    A parallel engine adds doubles in whatever order its threads finish, so the last bits of a plain
    sum change from one build to the next, and a full refresh would not give byte for byte what a
    sequence of incremental runs gave (a share moves in its last bit, sometimes a rounded cent with it).
    Each value is rounded to 18 decimals (for sums below 10^20) and added exactly as a decimal; the
    result is a double again. 12 decimals added up a visible error over the ~100k touches of one
    channel (a Markov remainder above 1e-9 where there is none).
    `window`, when given ("over (...)"), makes it a window function. -#}
{% macro exact_sum(expr, window='') -%}
    cast(sum(cast({{ expr }} as decimal(38, 18))) {{ window }} as {{ type_double() }})
{%- endmacro %}

{% macro exact_avg(expr) -%}
    (cast(sum(cast({{ expr }} as decimal(38, 18))) as {{ type_double() }}) / nullif(count({{ expr }}), 0))
{%- endmacro %}
