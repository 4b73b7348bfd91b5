{#- Normalising and hashing personal identifiers. Engine-specific SQL sits behind adapter.dispatch so
    the same models run on another warehouse (Postgres, Snowflake, BigQuery, Spark). -#}

{#- Lowercased, trimmed email; null unless it looks like local@domain.tld. -#}
{% macro normalize_email(column) -%}
    case when {{ cdp_regex_full_match('lower(trim(' ~ column ~ '))', cdp_literal('[^@\\s]+@[^@\\s]+\\.[a-z]{2,}')) }}
         then lower(trim({{ column }})) end
{%- endmacro %}

{#- Hex SHA-256 of a text value (DuckDB's sha256 equals Python's hashlib). -#}
{% macro sha256_hex(column) -%}
    {{ return(adapter.dispatch('sha256_hex', 'cdp')(column)) }}
{%- endmacro %}
{% macro default__sha256_hex(column) -%} sha2({{ column }}, 256) {%- endmacro %}
{% macro duckdb__sha256_hex(column) -%} sha256({{ column }}) {%- endmacro %}
{% macro postgres__sha256_hex(column) -%} encode(sha256(convert_to({{ column }}, 'UTF8')), 'hex') {%- endmacro %}

{#- True when the whole of `value` matches the regular expression `pattern` (both SQL expressions). -#}
{% macro cdp_regex_full_match(value, pattern) -%}
    {{ return(adapter.dispatch('cdp_regex_full_match', 'cdp')(value, pattern)) }}
{%- endmacro %}
{% macro default__cdp_regex_full_match(value, pattern) -%} regexp_like({{ value }}, '^(?:' || {{ pattern }} || ')$') {%- endmacro %}
{% macro duckdb__cdp_regex_full_match(value, pattern) -%} regexp_full_match({{ value }}, {{ pattern }}) {%- endmacro %}
{#- PostgreSQL's regular expressions write a word boundary \y (its \b is a backspace): rules are written
    with \b, as in DuckDB, Spark and most regex dialects, and translated here. -#}
{% macro postgres__cdp_regex_full_match(value, pattern) -%}
    ({{ value }} ~ ('^(?:' || replace({{ pattern }}, '\b', '\y') || ')$'))
{%- endmacro %}

{#- Digits only. -#}
{% macro digits_only(column) -%}
    {{ return(adapter.dispatch('digits_only', 'cdp')(column)) }}
{%- endmacro %}
{% macro default__digits_only(column) -%} regexp_replace({{ column }}, '[^0-9]', '') {%- endmacro %}
{% macro duckdb__digits_only(column) -%} regexp_replace({{ column }}, '[^0-9]', '', 'g') {%- endmacro %}
{% macro postgres__digits_only(column) -%} regexp_replace({{ column }}, '[^0-9]', '', 'g') {%- endmacro %}

{#- A phone number in E.164 (+<country code><national number>) where it can be read, else null.
    Follows libphonenumber's rules for a *possible* number, from seeds generated out of its metadata
    (python -m cdp.rules.phone_plans): `cc` is the seed phone_numbering_plans joined on the
    record's country (or var cdp__default_phone_country) and gives the calling code, trunk prefix and
    possible national lengths that national formats need; numbers written with + or 00 are checked
    against the possible lengths of their calling code (seed phone_calling_code_lengths). A "(0)"
    written inside international numbers is dropped; numbers of one repeated digit and anything
    shorter than six digits are placeholders, not phones. -#}
{% macro phone_to_e164(phone, cc) -%}
    {%- set d = digits_only("replace(" ~ phone ~ ", '(0)', '')") -%}
    case
        when {{ phone }} is null or length({{ d }}) < 6
             or {{ cdp_regex_full_match(d, "'0+|1+|2+|3+|4+|5+|6+|7+|8+|9+'") }} then null
        when trim({{ phone }}) like '+%' then {{ phone_international_e164(d) }}
        when {{ d }} like '00%' then {{ phone_international_e164('substr(' ~ d ~ ', 3)') }}
        when {{ cc }}.calling_code is null then null
        when {{ cc }}.trunk_prefix is not null and {{ d }} like {{ cc }}.trunk_prefix || '%'
             and {{ phone_length_possible(cc ~ '.possible_lengths', 'length(' ~ d ~ ') - length(' ~ cc ~ '.trunk_prefix)') }}
            then '+' || {{ cc }}.calling_code || substr({{ d }}, length({{ cc }}.trunk_prefix) + 1)
        when {{ phone_length_possible(cc ~ '.possible_lengths', 'length(' ~ d ~ ')') }}
            then '+' || {{ cc }}.calling_code || {{ d }}
        when {{ d }} like {{ cc }}.calling_code || '%'
             and {{ phone_length_possible(cc ~ '.possible_lengths', 'length(' ~ d ~ ') - length(' ~ cc ~ '.calling_code)') }}
            then '+' || {{ d }}
    end
{%- endmacro %}

{#- True when `length` is one of the '|'-separated lengths in `lengths`. -#}
{% macro phone_length_possible(lengths, length) -%}
    ('|' || {{ lengths }} || '|' like '%|' || cast({{ length }} as {{ dbt.type_string() }}) || '|%')
{%- endmacro %}

{#- '+' || digits when the digits start with a calling code (1 to 3 digits; calling codes are
    prefix-free) followed by a national number of a length possible under that code (seed
    phone_calling_code_lengths, read once at compile time into one constant, so the check is a
    string search per row rather than a join). -#}
{% macro phone_international_e164(digits) -%}
    {%- set rows = cdp_compile_time_rows("select code_and_length from " ~ cdp_seed_relation('phone_calling_code_lengths') ~ " order by 1") -%}
    {%- set known = '|' ~ (rows | map(attribute=0) | join('|')) ~ '|' -%}
    case when {% for n in [1, 2, 3] -%}
        position('|' || substr({{ digits }}, 1, {{ n }}) || ':' || cast(length({{ digits }}) - {{ n }} as {{ dbt.type_string() }}) || '|'
                 in {{ cdp_literal(known) }}) > 0
        {%- if not loop.last %} or {% endif %}
    {%- endfor %} then '+' || {{ digits }} end
{%- endmacro %}

{#- True when a normalised identifier is a placeholder listed in seeds/blocked_identifiers.csv.
    The list is read once at compile time into constants, so the check costs a hash lookup per row
    instead of a join against the seed. -#}
{% macro is_blocked_identifier(identifier_type, column) -%}
    {%- set values = cdp_compile_time_rows("select identifier from " ~ cdp_seed_relation('blocked_identifiers')
                                           ~ " where identifier_type = '" ~ identifier_type ~ "' order by 1")
                     | map(attribute=0) | list -%}
    ({{ column }} is not null and {{ column }} in (
        {%- for v in values %}{{ cdp_literal(v) }}{% if not loop.last %}, {% endif %}{% endfor -%}
        {%- if not values %}cast(null as {{ dbt.type_string() }}){% endif -%}))
{%- endmacro %}

{#- The staged personal identifiers every source that has them exposes, in one shape:
    email, email_sha256, email_is_blocked, phone_e164, phone_sha256, and whether a given email or
    phone was unreadable (email_is_invalid, phone_is_invalid; `email_raw` is the email as given). -#}
{% macro pii_columns(email, phone, cc, email_raw) -%}
    {{ email }} as email,
    {{ sha256_hex(email) }} as email_sha256,
    {{ is_blocked_identifier('email', email) }} as email_is_blocked,
    {{ phone_to_e164(phone, cc) }} as phone_e164,
    {{ sha256_hex(phone_to_e164(phone, cc)) }} as phone_sha256,
    {#- an identifier given but unreadable is dropped from identity: flagged so it is counted -#}
    coalesce(nullif(trim({{ email_raw }}), '') is not null and {{ email }} is null, false) as email_is_invalid,
    coalesce(nullif(trim({{ phone }}), '') is not null and {{ phone_to_e164(phone, cc) }} is null, false)
        as phone_is_invalid
{%- endmacro %}

{#- Joins the numbering plan phone_to_e164() reads (as `alias`) for rows that have a phone: the
    record's own country, else var cdp__default_phone_country. An equi-join, so it stays cheap on
    tens of millions of rows. -#}
{% macro join_phone_country(has_phone, country='null', alias='cc') -%}
left join {{ ref('phone_numbering_plans') }} as {{ alias }}
    on {{ alias }}.country = case when {{ has_phone }}
                                  then coalesce({{ country }}, {{ cdp_literal(var("cdp__default_phone_country")) }}) end
{%- endmacro %}

{#- Every match of a regular expression replaced (PostgreSQL and DuckDB replace the first only
    unless told 'g'; Spark replaces all). Patterns passed here use only classes and alternations
    that the three engines read alike (no \b: PostgreSQL spells a word boundary \y). -#}
{% macro cdp_regexp_replace_all(column, pattern, replacement) -%}
    {{ return(adapter.dispatch('cdp_regexp_replace_all', 'cdp')(column, pattern, replacement)) }}
{%- endmacro %}
{% macro default__cdp_regexp_replace_all(column, pattern, replacement) -%}
    regexp_replace({{ column }}, {{ cdp_literal(pattern) }}, {{ cdp_literal(replacement) }})
{%- endmacro %}
{% macro duckdb__cdp_regexp_replace_all(column, pattern, replacement) -%}
    regexp_replace({{ column }}, {{ cdp_literal(pattern) }}, {{ cdp_literal(replacement) }}, 'g')
{%- endmacro %}
{% macro postgres__cdp_regexp_replace_all(column, pattern, replacement) -%}
    regexp_replace({{ column }}, {{ cdp_literal(pattern) }}, {{ cdp_literal(replacement) }}, 'g')
{%- endmacro %}
