{#- Generic tests the project needs (the dbt package hub is out of reach, so no dbt_utils). -#}

{#- Every non-null value of the column fully matches `pattern` (a regular expression). -#}
{% test matches_pattern(model, column_name, pattern) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null
  and not {{ cdp_regex_full_match(column_name, cdp_literal(pattern)) }}
{% endtest %}

{#- The expression holds on every row. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}

{#- The combination of columns is unique. -#}
{% test unique_combination(model, combination) %}
select {{ combination | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1
{% endtest %}

