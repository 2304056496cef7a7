"""``wharfie login`` and ``logout``: Docker's prompts, flags, messages and config.json."""

from __future__ import annotations

import sys

import click

from wharfie.cli.context import App, pass_app
from wharfie.cli.transfer import registry_options, tls_flags
from wharfie.errors import WharfieError
from wharfie.oci.reference import DEFAULT_DOMAIN
from wharfie.transports.registry import credentials as creds


@click.command("login")
@click.argument("server", required=False)
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@tls_flags
@pass_app
def login(app: App, server: str | None, username: str | None, password: str | None,
          password_stdin: bool, tls_verify: bool, insecure: bool, ca_cert: str | None) -> None:
    """Log in to a registry; the credentials are checked, then stored as Docker stores them."""
    if password and password_stdin:
        raise WharfieError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise WharfieError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
                   err=True)
    if not username or not password:
        if not sys.stdin.isatty():
            raise WharfieError("Cannot perform an interactive login from a non TTY device")
        username = username or click.prompt("Username", err=True)
        password = password or click.prompt("Password", hide_input=True, err=True)
    client = app.client_with(registry_options(tls_verify, insecure, ca_cert))
    where = client.login(server, username or "", password or "")
    if not isinstance(where, str):
        click.echo(f"WARNING! Your password will be stored unencrypted in {where}.", err=True)
    click.echo("Login Succeeded")


@click.command("logout")
@click.argument("server", required=False)
@pass_app
def logout(app: App, server: str | None) -> None:
    """Forget the credentials stored for a registry."""
    host = creds.host_of(server) if server else DEFAULT_DOMAIN
    if app.client.logout(server):
        click.echo(f"Removing login credentials for {server or host}")
    else:
        click.echo(f"Not logged in to {server or host}")
