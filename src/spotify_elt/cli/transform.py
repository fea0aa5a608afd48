"""``spotify-elt transform`` (dbt build of silver and gold) and ``spotify-elt docs``."""

from __future__ import annotations

from pathlib import Path

import click

from ._target import resolve_target, target_option

_TARGET_HELP = "Directory for dbt's artifacts (default: <data_dir>/dbt/target)."


@click.command()
@click.option(
    "--select",
    "-s",
    "select",
    multiple=True,
    metavar="SELECTOR",
    help="Only these dbt nodes (repeatable), e.g. marts or +fct_plays.",
)
@click.option("--exclude", multiple=True, metavar="SELECTOR", help="Leave these nodes out.")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from all of bronze.")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path), help=_TARGET_HELP)
@click.option("--quiet", is_flag=True, help="No dbt progress lines, only the summary.")
@click.option("--wait", is_flag=True, help="Wait for a transform already running to finish.")
@target_option
def transform(
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    full_refresh: bool,
    target_path: Path | None,
    quiet: bool,
    wait: bool,
    use_emulator: bool | None,
) -> None:
    """Build silver and gold from bronze with dbt (models, snapshots and tests).

    Runs `dbt build` on dbt_project/ as the spotify_transformer role; a failing model or test
    stops with a non-zero exit and names it.
    """
    from ..transform import run_transform
    from ..vault import Vault

    settings = resolve_target(use_emulator).settings
    vault = Vault.from_settings(settings)
    result = run_transform(
        settings,
        vault,
        select=select,
        exclude=exclude,
        full_refresh=full_refresh,
        target_path=target_path,
        quiet=quiet,
        wait_for_lock=wait,
    )
    click.echo(result.summary())


@click.group()
def docs() -> None:
    """The dbt docs site and the markdown data catalog (docs/catalog/)."""


@docs.command("generate")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path), help=_TARGET_HELP)
@target_option
def docs_generate(target_path: Path | None, use_emulator: bool | None) -> None:
    """Run `dbt docs generate`: manifest, catalog and the static docs site with lineage."""
    from ..transform import generate_docs
    from ..vault import Vault

    settings = resolve_target(use_emulator).settings
    target = generate_docs(
        settings, Vault.from_settings(settings), target_path=target_path, quiet=True
    )
    click.echo(f"dbt docs generated in {target} (browse them: `spotify-elt docs serve`).")


@docs.command("catalog")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/catalog"),
    show_default=True,
    help="Directory of the markdown catalog.",
)
@click.option(
    "--check", is_flag=True, help="Only report whether the catalog is current (exit 1 if not)."
)
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path), help=_TARGET_HELP)
@click.option(
    "--no-generate",
    is_flag=True,
    help="Use the artifacts already in --target-path instead of running dbt docs generate.",
)
@target_option
def docs_catalog(
    output: Path,
    check: bool,
    target_path: Path | None,
    no_generate: bool,
    use_emulator: bool | None,
) -> None:
    """Regenerate the markdown data catalog from dbt's manifest and catalog."""
    from ..catalog_md import render_catalog, stale_pages, write_catalog
    from ..transform import default_target_path, generate_docs, load_artifacts
    from ..vault import Vault

    settings = resolve_target(use_emulator).settings
    target = target_path or default_target_path(settings)
    if not no_generate:
        generate_docs(settings, Vault.from_settings(settings), target_path=target, quiet=True)
    manifest, catalog = load_artifacts(target)
    pages = render_catalog(manifest, catalog)
    if check:
        stale = stale_pages(pages, output)
        if stale:
            click.echo(
                f"The catalog in {output} is out of date ({len(stale)} page(s): "
                f"{', '.join(stale[:5])}); run `spotify-elt docs catalog`.",
                err=True,
            )
            raise click.exceptions.Exit(1)
        click.echo(f"The catalog in {output} is current ({len(pages)} pages).")
        return
    changed = write_catalog(pages, output)
    click.echo(f"Wrote {len(pages)} catalog pages to {output} ({len(changed)} changed).")


@docs.command("serve")
@click.option("--port", default=8080, show_default=True, help="TCP port (0: any free one).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on (the default keeps the site on this machine).",
)
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path), help=_TARGET_HELP)
@click.option(
    "--no-generate",
    is_flag=True,
    help="Serve the docs already in --target-path instead of running dbt docs generate.",
)
@target_option
def docs_serve(
    port: int, host: str, target_path: Path | None, no_generate: bool, use_emulator: bool | None
) -> None:
    """Serve the dbt docs site (models, columns, tests, lineage graph) until Ctrl-C.

    Runs `dbt docs generate` first, then serves its index.html, manifest.json and catalog.json
    (the site needs a web server: browsers refuse its requests from a file:// page).
    """
    from ..docs_site import make_server
    from ..transform import default_target_path, generate_docs
    from ..vault import Vault

    settings = resolve_target(use_emulator).settings
    target = target_path or default_target_path(settings)
    if not no_generate:
        generate_docs(settings, Vault.from_settings(settings), target_path=target, quiet=True)
    server = make_server(target, host, port)
    click.echo(f"Serving the dbt docs at http://{host}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()
