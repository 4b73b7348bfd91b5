"""Turns one chunk's random draws into landing files and ground truth, in DuckDB SQL.

The draws (numpy arrays, registered as Arrow tables) hold only numbers; the views below give them
names, identifiers in the messy shapes real systems produce (mixed-case emails with stray spaces,
phones in national and international formats, placeholder junk), and the `COPY` statements write
the landing contract of DESIGN.md plus the planted ground truth.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from cdp.sample_data.draws import (
    ALIAS,
    DEMO_REQUESTED,
    FORM_SUBMITTED,
    IDENTIFY,
    ORDER_COMPLETED,
    PAGE,
    PRODUCT_VIEWED,
    ChunkDraws,
)
from cdp.sample_data.vocabulary import (
    CAMPAIGNS,
    CHANNELS,
    COMPANIES,
    COMPANY_SIZES,
    COUNTRIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    INDUSTRIES,
    JOB_TITLES,
    JUNK_EMAILS,
    JUNK_PHONES,
    LAST_NAMES,
    LEAD_SOURCES,
    NICKNAMES,
    OPPORTUNITY_STAGES,
    PAGE_PATHS,
    SITE,
    TERMS,
)
from cdp.sql_text import sql_string

# Per 100,000 rows: how many rows get each planted defect.
EVENT_DEFECT_RATE = 200
EVENT_DUPLICATE_RATE = 100
CRM_DEFECT_RATE = 300


def _lit(values: tuple) -> str:
    """A SQL list literal."""
    def one(v: object) -> str:
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        return repr(v)

    return "[" + ", ".join(one(v) for v in values) + "]"


def channels_table() -> pa.Table:
    return pa.table({
        "channel": list(range(len(CHANNELS))),
        "channel_name": [c.name for c in CHANNELS],
        "utm_sources": [list(c.utm_sources) for c in CHANNELS],
        "utm_mediums": [list(c.utm_mediums) for c in CHANNELS],
        "referrers": [list(c.referrers) for c in CHANNELS],
    })


def _ts(expr: str) -> str:
    return f"strftime(to_timestamp({expr}), '%Y-%m-%dT%H:%M:%S.%gZ')"


def define_views(con: duckdb.DuckDBPyConnection, draws: ChunkDraws) -> None:
    con.register("d_people", draws.people)
    con.register("d_devices", draws.devices)
    con.register("d_sessions", draws.sessions)
    con.register("d_events", draws.events)
    con.register("d_opportunities", draws.opportunities)
    con.register("d_channels", channels_table())
    con.execute(f"""
        create or replace temp view people_v as
        with named as (
            select
                p.*,
                'P' || lpad(person_idx::varchar, 9, '0') as person_id,
                'user_' || lpad(person_idx::varchar, 9, '0') as user_id,
                'C' || lpad(person_idx::varchar, 9, '0') as contact_id,
                {_lit(FIRST_NAMES)}[first_name + 1] as first_name_s,
                {_lit(LAST_NAMES)}[last_name + 1] as last_name_s,
                {_lit(COMPANIES)}[company + 1] as company_s,
                {_lit(tuple(c[0] for c in COUNTRIES))}[country + 1] as country_code,
                {_lit(tuple(c[1] for c in COUNTRIES))}[country + 1] as calling_code,
                {_lit(tuple(c[3] for c in COUNTRIES))}[country + 1] as trunk_prefix,
                nsn::varchar as nsn_s
            from d_people as p
        )
        select
            *,
            regexp_replace(lower(strip_accents(first_name_s)), '[^a-z]', '', 'g') || '.'
                || regexp_replace(lower(strip_accents(last_name_s)), '[^a-z]', '', 'g')
                || person_idx::varchar || '@'
                || case when is_b2b
                        then regexp_replace(lower(company_s), '[^a-z]', '', 'g') || '.example'
                        else {_lit(EMAIL_DOMAINS)}[email_domain + 1] end as email,
            '+' || calling_code || nsn_s as phone_e164
        from named
    """)
    con.execute("""
        create or replace temp view devices_v as
        select
            device_row, owner, is_app,
            'dev-' || format('{:016x}', device_hi) as device_id,
            'anon-' || format('{:016x}', anon_hi) as anonymous_id
        from d_devices
    """)
    con.execute(f"""
        create or replace temp view sessions_v as
        select
            s.*,
            c.channel_name,
            case when len(c.utm_sources) > 0
                 then c.utm_sources[1 + s.utm_source_draw % len(c.utm_sources)] end as utm_source,
            case when len(c.utm_mediums) > 0
                 then c.utm_mediums[1 + s.utm_medium_draw % len(c.utm_mediums)] end as utm_medium,
            case when len(c.utm_sources) > 0
                 then {_lit(CAMPAIGNS)}[1 + s.campaign_draw % {len(CAMPAIGNS)}] end as utm_campaign,
            case when c.channel_name = 'paid_search'
                 then {_lit(TERMS)}[1 + s.term_draw % {len(TERMS)}] end as utm_term,
            case when len(c.referrers) > 0
                 then c.referrers[1 + s.referrer_draw % len(c.referrers)] end as referrer
        from d_sessions as s
        inner join d_channels as c on c.channel = s.channel
    """)


def _email_variant(email: str, variant: str) -> str:
    """Mixed case and stray whitespace, as typed into forms."""
    return f"""case {variant}
        when 1 then upper(left({email}, 1)) || substr({email}, 2)
        when 2 then '  ' || {email} || ' '
        when 3 then upper({email})
        else {email} end"""


def _typo_email() -> str:
    """The person's email as mistyped on a second CRM entry (the digits of the local part kept): two
    letters of the first name swapped, two letters of the domain swapped, or the last name's first
    letter dropped."""
    local, domain = "split_part(email, '@', 1)", "split_part(email, '@', 2)"
    first_len = f"length(split_part({local}, '.', 1))"
    return f"""case fuzzy_typo_kind
        when 0 then substr({local}, 1, 1) || substr({local}, 3, 1) || substr({local}, 2, 1) || substr({local}, 4)
                    || '@' || {domain}
        when 1 then {local} || '@' || substr({domain}, 1, 2) || substr({domain}, 4, 1) || substr({domain}, 3, 1)
                    || substr({domain}, 5)
        else substr({local}, 1, {first_len} + 1) || substr({local}, {first_len} + 3) || '@' || {domain} end"""


def _nickname_map() -> str:
    keys = ", ".join(sql_string(k) for k in NICKNAMES)
    values = ", ".join(sql_string(v) for v in NICKNAMES.values())
    return f"map([{keys}], [{values}])"


def _phone_variant(variant: str) -> str:
    """A person's phone as some system wrote it: national formats need the country to parse."""
    a, b, c = "substr(nsn_s, 1, 3)", "substr(nsn_s, 4, 3)", "substr(nsn_s, 7)"
    return f"""case
        when calling_code = '1' then case {variant}
            when 0 then '(' || {a} || ') ' || {b} || '-' || {c}
            when 1 then {a} || '-' || {b} || '-' || {c}
            when 2 then '+1 ' || {a} || ' ' || {b} || ' ' || {c}
            else '1.' || {a} || '.' || {b} || '.' || {c} end
        else case {variant}
            when 0 then trunk_prefix || left(nsn_s, 3) || ' ' || substr(nsn_s, 4)
            when 1 then '+' || calling_code || ' ' || left(nsn_s, 3) || ' ' || substr(nsn_s, 4)
            when 2 then '00' || calling_code || nsn_s
            else '+' || calling_code || ' (0)' || nsn_s end
        end"""


def _international_phone_variant(variant: str) -> str:
    """Phones from apps and web forms: international, since no country travels with them."""
    return f"""case {variant} % 3
        when 0 then '+' || calling_code || ' ' || left(nsn_s, 3) || ' ' || substr(nsn_s, 4)
        when 1 then '+' || calling_code || '-' || nsn_s
        else '00' || calling_code || ' ' || nsn_s end"""


def write_events(con: duckdb.DuckDBPyConnection, events_file: Path, truth_dir: Path, chunk: int,
                 gzip: bool) -> int:
    """Write the chunk's Segment-Spec messages, some defective or duplicated; returns lines written."""
    email_v = _email_variant("e.email", "e.email_variant")
    junk_email = f"{_lit(JUNK_EMAILS)}[1 + e.junk_draw % {len(JUNK_EMAILS)}]"
    junk_phone = f"{_lit(JUNK_PHONES)}[1 + e.junk_draw % {len(JUNK_PHONES)}]"
    con.execute(f"""
        create or replace temp table chunk_messages as
        with joined as (
            select
                e.*, s.channel_name, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.referrer,
                s.is_identified, s.k as session_k, d.device_id, d.anonymous_id, d.is_app, p.*,
                'msg-' || format('{{:016x}}{{:016x}}', e.message_hi, e.message_lo) as message_id,
                e.kind = {PAGE} and e.pos = 0 as is_landing,
                {_lit(PAGE_PATHS)}[1 + e.path_draw % {len(PAGE_PATHS)}] as path
            from d_events as e
            inner join sessions_v as s using (session_row)
            inner join devices_v as d on d.device_row = s.device_row
            inner join people_v as p on p.person = s.person
        ),
        shaped as (
            select
                *,
                case
                    when kind = {PAGE} and is_app then 'screen'
                    when kind = {PAGE} then 'page'
                    when kind = {IDENTIFY} then 'identify'
                    when kind = {ALIAS} then 'alias'
                    else 'track' end as message_type,
                case kind
                    when {PRODUCT_VIEWED} then 'Product Viewed'
                    when {FORM_SUBMITTED} then 'Form Submitted'
                    when {DEMO_REQUESTED} then 'Demo Requested'
                    when {ORDER_COMPLETED} then 'Order Completed' end as event_name,
                case when tz_draw = 0
                     then strftime(to_timestamp(occurred_at) + interval 2 hour, '%Y-%m-%dT%H:%M:%S.%g')
                          || '+02:00'
                     else {_ts("occurred_at")} end as ts,
                case when kind = {IDENTIFY} and junk_draw < 30 then {junk_email}
                     else {email_v} end as typed_email,
                case when kind = {IDENTIFY} and junk_draw between 30 and 44 then {junk_phone}
                     when has_phone then {_international_phone_variant("e.phone_variant")} end as typed_phone
            from joined as e
        ),
        rendered as (
            select
                message_id, person_id, defect_draw, occurred_at,
                json_object(
                    'type', message_type,
                    'messageId', message_id,
                    'timestamp', ts,
                    'anonymousId', anonymous_id,
                    'userId', case when kind in ({IDENTIFY}, {ALIAS}) or is_identified then user_id end,
                    'previousId', case when kind = {ALIAS} then anonymous_id end,
                    'event', event_name,
                    'name', case when kind = {PAGE} then path end,
                    'properties', case kind
                        when {PRODUCT_VIEWED} then json_object(
                            'product_id', 'sku-' || (path_draw % 50)::varchar,
                            'price', round(5 + (path_draw % 200) * 0.75, 2))
                        when {FORM_SUBMITTED} then json_object(
                            'form_id', case when is_b2b then 'contact_sales' else 'newsletter' end)
                        when {DEMO_REQUESTED} then json_object('product', 'cdp')
                        when {ORDER_COMPLETED} then json_object(
                            'order_id', 'ord-' || format('{{:016x}}', message_lo),
                            'revenue', revenue, 'currency', 'USD')
                        end,
                    'traits', case when kind = {IDENTIFY} then json_object(
                        'email', typed_email,
                        'phone', typed_phone,
                        'firstName', first_name_s,
                        'lastName', last_name_s,
                        'company', case when is_b2b then company_s end,
                        'title', case when is_b2b then {_lit(JOB_TITLES)}[job_title + 1] end,
                        'country', country_code) end,
                    'context', json_object(
                        'campaign', case when is_landing and utm_source is not null then json_object(
                            'source', utm_source, 'medium', utm_medium, 'name', utm_campaign,
                            'term', utm_term, 'content', 'v' || (session_k % 3)::varchar) end,
                        'page', case when not is_app then json_object(
                            'path', path,
                            'url', '{SITE}' || path || case when is_landing and utm_source is not null
                                then '?utm_source=' || utm_source || '&utm_medium=' || utm_medium
                                     || '&utm_campaign=' || utm_campaign else '' end,
                            'referrer', case when is_landing then referrer else '{SITE}/' end,
                            'title', 'Example Shop') end,
                        'device', case when is_app then json_object('id', device_id, 'type', 'ios') end,
                        'traits', case when kind in ({FORM_SUBMITTED}, {ORDER_COMPLETED}) and has_email
                            then json_object('email', typed_email) end,
                        'library', json_object('name', 'analytics.js', 'version', '4.1.0'))
                )::varchar as line
            from shaped
        )
        select
            message_id, person_id, occurred_at, line as clean_line,
            case when defect_draw < {EVENT_DEFECT_RATE} then
                ['truncated_json', 'missing_message_id', 'unparseable_timestamp', 'future_timestamp',
                 'wrong_type'][1 + defect_draw % 5] end as defect,
            defect_draw between {EVENT_DEFECT_RATE} and {EVENT_DEFECT_RATE + EVENT_DUPLICATE_RATE - 1}
                as is_duplicated
        from rendered
    """)
    con.execute("""
        create or replace temp table chunk_lines as
        select
            occurred_at, 0 as copy_no,
            case defect
                when 'truncated_json' then left(clean_line, length(clean_line) // 2)
                when 'missing_message_id' then replace(clean_line, '"messageId":', '"message_id":')
                when 'unparseable_timestamp'
                    then regexp_replace(clean_line, '"timestamp":"[^"]*"', '"timestamp":"last tuesday"')
                when 'future_timestamp'
                    then regexp_replace(clean_line, '"timestamp":"[0-9]{4}', '"timestamp":"2199')
                when 'wrong_type' then regexp_replace(clean_line, '"type":"[a-z]+"', '"type":42')
                else clean_line end as line
        from chunk_messages
        union all
        select occurred_at + 3600, 1, clean_line from chunk_messages where is_duplicated
    """)
    compression = ", compression gzip" if gzip else ""
    con.execute(f"""
        copy (select line from chunk_lines order by occurred_at, copy_no, line)
        to {sql_string(events_file)} (format csv, header false, quote '', escape '', delimiter '\x1f'{compression})
    """)
    con.execute(f"""
        copy (select message_id, person_id, defect, is_duplicated from chunk_messages order by message_id)
        to {sql_string(truth_dir / "event_people" / f"event_people_{chunk:05d}.parquet")} (format parquet)
    """)
    return int(con.execute("select count(*) from chunk_lines").fetchone()[0])


def write_crm(con: duckdb.DuckDBPyConnection, landing: Path, truth_dir: Path, chunk: int,
              end_epoch: float) -> None:
    """CRM contacts (with duplicates and a few bad rows) and opportunity stage snapshots."""
    crm_email = _email_variant("email", "crm_variant")
    contacts_file = landing / "crm_contacts" / f"contacts_{chunk:05d}.csv"
    con.execute(f"""
        create or replace temp table chunk_contacts as
        with base as (
            select
                person_id, contact_id, crm_defect_draw, {crm_email} as email,
                case when has_phone then {_phone_variant("crm_phone_variant")} end as phone,
                first_name_s as first_name, last_name_s as last_name,
                case when is_b2b then company_s end as company,
                {_lit(JOB_TITLES)}[job_title + 1] as job_title,
                case when is_b2b then {_lit(INDUSTRIES)}[industry + 1] end as industry,
                case when is_b2b then {_lit(COMPANY_SIZES)}[company_size + 1]::varchar end as company_size,
                country_code as country,
                {_lit(LEAD_SOURCES)}[lead_source + 1] as lead_source,
                least(first_seen_at + 3600, {end_epoch}) as created_epoch,
                least(last_seen_at + 7200, {end_epoch}) as updated_epoch
            from people_v
            where in_crm
            union all
            select
                person_id, contact_id || '-D', 100000, upper(trim(email)), null, first_name_s, last_name_s,
                case when is_b2b then company_s end, null, null, null, country_code, 'trade_show',
                least(last_seen_at, {end_epoch}), least(last_seen_at + 60, {end_epoch})
            from people_v
            where crm_duplicate
            union all
            -- entered again by hand: a mistyped email, a nickname, the company written another way
            select
                person_id, contact_id || '-F', 100000, {_typo_email()},
                null, coalesce(map_extract({_nickname_map()}, first_name_s)[1], first_name_s), last_name_s,
                case when is_b2b then upper(company_s) || ' Inc.' end, null, null, null, country_code, 'webinar',
                least(last_seen_at + 120, {end_epoch}), least(last_seen_at + 180, {end_epoch})
            from people_v
            where crm_fuzzy_duplicate
        )
        select
            person_id,
            case when crm_defect_draw < {CRM_DEFECT_RATE} and crm_defect_draw % 3 = 1 then ''
                 else contact_id end as contact_id,
            email, phone, first_name, last_name, company, job_title, industry,
            case when crm_defect_draw < {CRM_DEFECT_RATE} and crm_defect_draw % 3 = 2 then 'lots'
                 else company_size end as company_size,
            country, lead_source,
            case when crm_defect_draw < {CRM_DEFECT_RATE} and crm_defect_draw % 3 = 0 then 'not a date'
                 else {_ts("created_epoch")} end as created_at,
            {_ts("updated_epoch")} as updated_at,
            case when crm_defect_draw < {CRM_DEFECT_RATE}
                 then ['unparseable_timestamp', 'missing_contact_id', 'wrong_type'][1 + crm_defect_draw % 3]
                 end as defect
        from base
    """)
    con.execute(f"""
        copy (select * exclude (person_id, defect) from chunk_contacts order by created_at, contact_id)
        to {sql_string(contacts_file)} (header, delimiter ',')
    """)
    con.execute(f"""
        copy (select contact_id, person_id, defect from chunk_contacts order by contact_id)
        to {sql_string(truth_dir / "contact_people" / f"contact_people_{chunk:05d}.parquet")} (format parquet)
    """)
    stages = _lit(OPPORTUNITY_STAGES)
    con.execute(f"""
        copy (
            with o as (
                select
                    p.contact_id, p.person_idx, p.country_code, d.*,
                    least(p.first_seen_at + d.created_offset_days * 86400, {end_epoch}) as created_epoch
                from d_opportunities as d
                inner join people_v as p using (person)
            )
            select
                'O' || lpad(person_idx::varchar, 9, '0') || '-' || opp::varchar as opportunity_id,
                contact_id,
                amount,
                case when country_code = 'GB' then 'GBP'
                     when country_code in ('DE', 'FR', 'NL') then 'EUR' else 'USD' end as currency,
                case when stage_k < 4 then {stages}[stage_k + 1]
                     when is_won then 'closed_won' else 'closed_lost' end as stage,
                {_ts("created_epoch")} as created_at,
                case when stage_k = 4 then {_ts("least(created_epoch + stage_k * stage_days * 86400, "
                                                 + str(end_epoch) + ")")} end as closed_at,
                stage_k = 4 and is_won as is_won,
                {_ts("least(created_epoch + stage_k * stage_days * 86400, " + str(end_epoch) + ")")}
                    as updated_at
            from o
            order by updated_at, opportunity_id, stage
        ) to {sql_string(landing / "crm_opportunities" / f"opportunities_{chunk:05d}.csv")} (header, delimiter ',')
    """)


def write_consent_and_deletions(con: duckdb.DuckDBPyConnection, landing: Path, chunk: int,
                                end_epoch: float) -> None:
    email_v = _email_variant("email", "crm_variant")
    con.execute(f"""
        copy (
            with p as (
                select p.*, d.anonymous_id
                from people_v as p
                inner join devices_v as d on d.owner = p.person
                qualify row_number() over (partition by p.person order by d.device_row) = 1
            ),
            rows as (
                select 'email' as identifier_type, {email_v} as identifier, 'email_marketing' as purpose,
                       'granted' as status, first_seen_at + consent_delay_days * 86400 as recorded_epoch,
                       'web_form' as source
                from p where has_email and consent_email
                union all
                select 'email', email, 'email_marketing', 'revoked',
                       last_seen_at + 86400, 'preference_center'
                from p where has_email and consent_email and consent_email_revoked
                union all
                select 'email', {email_v}, 'ads_targeting', 'granted', first_seen_at + 60, 'cookie_banner'
                from p where has_email and consent_ads
                union all
                select 'phone', {_international_phone_variant("crm_phone_variant")}, 'sms', 'granted',
                       first_seen_at + consent_delay_days * 86400, 'checkout'
                from p where has_phone and consent_sms
                union all
                select 'anonymous_id', anonymous_id, 'analytics', 'granted', first_seen_at, 'cookie_banner'
                from p where consent_analytics
                union all
                select 'user_id', user_id, 'analytics', 'revoked', last_seen_at + 3600, 'account_settings'
                from p where has_user_id and not consent_analytics
            )
            select identifier_type, identifier, purpose, status,
                   {_ts(f"least(recorded_epoch, {end_epoch})")} as recorded_at, source
            from rows order by recorded_at, identifier_type, identifier, purpose, status, source
        ) to {sql_string(landing / "consent" / f"consent_{chunk:05d}.csv")} (header, delimiter ',')
    """)
    con.execute(f"""
        copy (
            select
                'DSR-' || lpad(person_idx::varchar, 9, '0') as request_id,
                case when deletion_by_user_id and has_user_id then 'user_id' else 'email' end
                    as identifier_type,
                case when deletion_by_user_id and has_user_id then user_id else email end as identifier,
                {_ts(f"least(last_seen_at + 5 * 86400, {end_epoch})")} as requested_at
            from people_v where deletion_request
            order by request_id
        ) to {sql_string(landing / "deletion_requests" / f"deletion_requests_{chunk:05d}.csv")} (header, delimiter ',')
    """)


def write_people_truth(con: duckdb.DuckDBPyConnection, truth_dir: Path, chunk: int) -> None:
    """Who each person really is, and every identifier that truly belongs to them."""
    con.execute(f"""
        copy (
            select person_id, is_b2b, country_code as country,
                   case when has_email or in_crm then email end as email,
                   case when has_phone then phone_e164 end as phone_e164,
                   case when has_user_id then user_id end as user_id,
                   case when in_crm then contact_id end as contact_id,
                   n_sessions, channel_mask, converted, case when converted then revenue end as revenue,
                   to_timestamp(first_seen_at) as first_seen_at
            from people_v
            order by person_id
        ) to {sql_string(truth_dir / "people" / f"people_{chunk:05d}.parquet")} (format parquet)
    """)
    con.execute(f"""
        copy (
            select distinct p.person_id, 'anonymous_id' as identifier_type, d.anonymous_id as identifier,
                   d.owner <> p.person as is_shared_device
            from d_sessions as s
            inner join devices_v as d on d.device_row = s.device_row
            inner join people_v as p on p.person = s.person
            union all
            select distinct p.person_id, 'device_id', d.device_id, d.owner <> p.person
            from d_sessions as s
            inner join devices_v as d on d.device_row = s.device_row
            inner join people_v as p on p.person = s.person
            where d.is_app
            union all
            select person_id, 'email', email, false from people_v where has_email or in_crm
            union all
            select person_id, 'phone', phone_e164, false from people_v where has_phone
            union all
            select person_id, 'user_id', user_id, false from people_v where has_user_id
            union all
            select person_id, 'crm_contact_id', contact_id, false from people_v where in_crm
            order by 1, 2, 3, 4
        ) to {sql_string(truth_dir / "identifiers" / f"identifiers_{chunk:05d}.parquet")} (format parquet)
    """)
