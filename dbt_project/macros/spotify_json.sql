{#- Shared ways of reading Spotify objects out of jsonb, in every API shape. -#}

{#- A jsonb array of strings as text[] (null when the field is absent, e.g. Development Mode). -#}
{% macro json_text_array(expression) -%}
    case
        when jsonb_typeof({{ expression }}) = 'array'
            then array(select jsonb_array_elements_text({{ expression }}))
    end
{%- endmacro %}

{#- The URL of the first (largest) image of an object. -#}
{% macro json_image_url(object) -%}
    ({{ object }} -> 'images' -> 0 ->> 'url')
{%- endmacro %}

{#- A jsonb value as integer when it is a number, else null (absent fields, older shapes). -#}
{% macro json_int(expression, cast='integer') -%}
    case
        when jsonb_typeof({{ expression }}) = 'number' then ({{ expression }})::numeric::{{ cast }}
    end
{%- endmacro %}

{#- A jsonb value as boolean when it is one, else null. -#}
{% macro json_bool(expression) -%}
    case when jsonb_typeof({{ expression }}) = 'boolean' then ({{ expression }})::boolean end
{%- endmacro %}

{#- A release precision as Spotify states it; unknown values become null. -#}
{% macro release_date_precision(precision) -%}
    case
        when lower({{ precision }}) in ('year', 'month', 'day') then lower({{ precision }})
    end
{%- endmacro %}

{#-
    Spotify release dates come as "1998", "1998-06" or "1998-06-15" (release_date_precision says
    which); the result is the first day of the period, or null when the text does not parse
    (never an error, so a bad row is caught by a test rather than breaking the build).
-#}
{% macro parse_release_date(release_date) -%}
    case
        when {{ release_date }} ~ '^\d{4}$'
            then make_date(({{ release_date }})::integer, 1, 1)
        when {{ release_date }} ~ '^\d{4}-(0[1-9]|1[0-2])$'
            then make_date(
                substr({{ release_date }}, 1, 4)::integer,
                substr({{ release_date }}, 6, 2)::integer,
                1
            )
        when {{ release_date }} ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$'
            and substr({{ release_date }}, 9, 2)::integer <= extract(
                day from (
                    make_date(
                        substr({{ release_date }}, 1, 4)::integer,
                        substr({{ release_date }}, 6, 2)::integer,
                        1
                    ) + interval '1 month - 1 day'
                )
            )
            then make_date(
                substr({{ release_date }}, 1, 4)::integer,
                substr({{ release_date }}, 6, 2)::integer,
                substr({{ release_date }}, 9, 2)::integer
            )
    end
{%- endmacro %}

{#- The typed columns of a Track object (full or simplified), in every API shape. -#}
{% macro spotify_track_columns(object) -%}
    {{ object }} ->> 'id' as track_id,
    {{ object }} ->> 'name' as track_name,
    {{ object }} ->> 'uri' as track_uri,
    {{ object }} -> 'album' ->> 'id' as album_id,
    {{ json_int(object ~ " -> 'disc_number'") }} as disc_number,
    {{ json_int(object ~ " -> 'track_number'") }} as track_number,
    {{ json_int(object ~ " -> 'duration_ms'", 'bigint') }} as duration_ms,
    {{ json_bool(object ~ " -> 'explicit'") }} as is_explicit,
    coalesce({{ json_bool(object ~ " -> 'is_local'") }}, false) as is_local,
    {{ json_bool(object ~ " -> 'is_playable'") }} as is_playable,
    upper(nullif({{ object }} -> 'external_ids' ->> 'isrc', '')) as isrc,
    {{ json_int(object ~ " -> 'popularity'") }} as popularity,
    {{ object }} ->> 'preview_url' as preview_url,
    {{ object }} -> 'external_urls' ->> 'spotify' as spotify_url
{%- endmacro %}

{#- The typed columns of an Album object (full or simplified), in every API shape. -#}
{% macro spotify_album_columns(object) -%}
    {{ object }} ->> 'id' as album_id,
    {{ object }} ->> 'name' as album_name,
    lower({{ object }} ->> 'album_type') as album_type,
    {{ object }} ->> 'uri' as album_uri,
    {{ parse_release_date(object ~ " ->> 'release_date'") }} as release_date,
    {{ release_date_precision(object ~ " ->> 'release_date_precision'") }}
        as release_date_precision,
    {{ object }} ->> 'release_date' as release_date_raw,
    {#- Some album objects carry only their track page, whose total is the same number. #}
    coalesce(
        {{ json_int(object ~ " -> 'total_tracks'") }},
        {{ json_int(object ~ " -> 'tracks' -> 'total'") }}
    ) as total_tracks,
    nullif({{ object }} -> 'external_ids' ->> 'upc', '') as upc,
    nullif({{ object }} ->> 'label', '') as label,
    {{ json_int(object ~ " -> 'popularity'") }} as popularity,
    {{ json_text_array(object ~ " -> 'genres'") }} as genres,
    {{ json_image_url(object) }} as image_url,
    {{ object }} -> 'external_urls' ->> 'spotify' as spotify_url
{%- endmacro %}

{#- The typed columns of an Artist object (full or simplified), in every API shape. -#}
{% macro spotify_artist_columns(object) -%}
    {{ object }} ->> 'id' as artist_id,
    {{ object }} ->> 'name' as artist_name,
    {{ object }} ->> 'uri' as artist_uri,
    {{ json_int(object ~ " -> 'popularity'") }} as popularity,
    {{ json_int(object ~ " -> 'followers' -> 'total'", 'bigint') }} as follower_count,
    {{ json_text_array(object ~ " -> 'genres'") }} as genres,
    {{ json_image_url(object) }} as image_url,
    {{ object }} -> 'external_urls' ->> 'spotify' as spotify_url
{%- endmacro %}

{#- Whether a track object is a full Track (has an album) rather than a simplified one. -#}
{% macro is_full_track(object) -%}
    coalesce(jsonb_typeof({{ object }} -> 'album') = 'object', false)
{%- endmacro %}

{#- Whether an album object is a full Album (lists its tracks or copyrights). -#}
{% macro is_full_album(object) -%}
    coalesce({{ object }} ? 'tracks' or {{ object }} ? 'copyrights', false)
{%- endmacro %}

{#- Whether an artist object is a full Artist (has images; simplified artists have none). -#}
{% macro is_full_artist(object) -%}
    coalesce({{ object }} ? 'images', false)
{%- endmacro %}

{#- A timestamp as text that does not depend on the session's TimeZone or DateStyle. -#}
{% macro timestamp_key(expression) -%}
    to_char({{ expression }} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- endmacro %}

{#- A jsonb value when it is an array, else an empty array (so a lateral join keeps no rows). -#}
{% macro json_array_or_empty(expression) -%}
    case
        when jsonb_typeof({{ expression }}) = 'array'
            then {{ expression }}
        else '[]'::jsonb
    end
{%- endmacro %}

{#- The artist objects credited on a track or album object, one row each, as a set. -#}
{% macro artist_credits(object) -%}
    jsonb_array_elements({{ json_array_or_empty(object ~ " -> 'artists'") }})
{%- endmacro %}
