{#- An identifier from a consent or deletion record, normalised the way staging normalises it on
    events and contacts, so the two can be compared: emails lowercased and trimmed, phones in E.164
    (needs the country seed joined as `cc`), ids trimmed. -#}
{% macro normalize_identifier(type_column, value_column, cc) -%}
    case lower(trim({{ type_column }}))
        when 'email' then {{ normalize_email(value_column) }}
        when 'phone' then {{ phone_to_e164(value_column, cc) }}
        else nullif(trim({{ value_column }}), '')
    end
{%- endmacro %}
