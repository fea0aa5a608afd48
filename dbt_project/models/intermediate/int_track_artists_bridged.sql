{#- Which artists are credited on each track, in credit order (the first is the primary artist). -#}
{{ bridge_artist_credits('track', ref('int_tracks_merged')) }}
