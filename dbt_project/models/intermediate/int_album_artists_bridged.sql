{#- Which artists are credited on each album, in credit order (the first is the primary artist). -#}
{{ bridge_artist_credits('album', ref('int_albums_merged')) }}
