"""``wharfie version`` and ``wharfie info`` (``system info``): docker's layouts, or
``--format`` Go templates over the same fields."""

from __future__ import annotations

import sys

import click

from wharfie.cli.context import App, pass_app

FORMAT_HELP = "Format output using a custom template: 'json', or a Go template"


def _render(doc: dict, fmt: str) -> None:
    from wharfie.cli.format import Template, go_json

    if fmt == "json":
        sys.stdout.write(go_json(doc) + "\n")
    else:
        sys.stdout.write(Template(fmt.replace("\\t", "\t").replace("\\n", "\n")).render(doc)
                         + "\n")


def _block(rows: list[tuple[str, object]], indent: str = " ") -> str:
    """docker's aligned ``Key:   value`` lines (values start in one column)."""
    width = max(len(k) for k, _ in rows) + 2
    return "".join(f"{indent}{k + ':':<{width}}{v}\n" for k, v in rows)


@click.command("version")
@click.option("-f", "--format", "fmt", help=FORMAT_HELP)
@pass_app
def version(app: App, fmt: str | None) -> None:
    """Show the wharfie version information."""
    doc = app.client.version()
    if fmt:
        _render(doc, fmt)
        return
    c = doc["Client"]
    rows = [("Version", c["Version"]), ("API version", c["ApiVersion"]),
            ("Python version", c["PythonVersion"])]
    rows += [("Git commit", c["GitCommit"])] if c["GitCommit"] else []
    rows += [("Built", c["BuildTime"])] if c["BuildTime"] else []
    rows += [("OS/Arch", f"{c['Os']}/{c['Arch']}")]
    sys.stdout.write(f"Client: {c['Platform']['Name']}\n" + _block(rows))


@click.command("info")
@click.option("-f", "--format", "fmt", help=FORMAT_HELP)
@pass_app
def info(app: App, fmt: str | None) -> None:
    """Display system-wide information."""
    from wharfie.cli.format import bytes_size

    d = app.client.info()
    if fmt:
        _render(d, fmt)
        return
    reg = d["RegistryConfig"]
    text = (f" Containers: {d['Containers']}\n  Running: {d['ContainersRunning']}\n"
            f"  Paused: {d['ContainersPaused']}\n  Stopped: {d['ContainersStopped']}\n"
            f" Images: {d['Images']}\n Server Version: {d['ServerVersion']}\n"
            f" Storage Driver: {d['Driver']}\n Kernel Version: {d['KernelVersion']}\n"
            f" Operating System: {d['OperatingSystem']}\n OSType: {d['OSType']}\n"
            f" Architecture: {d['Architecture']}\n CPUs: {d['NCPU']}\n"
            f" Total Memory: {bytes_size(d['MemTotal'])}\n"
            f" Name: {d['Name']}\n Root Dir: {d['DockerRootDir']}\n")
    text += " Insecure Registries:\n" + "".join(f"  {r}\n" for r in reg["InsecureRegistries"])
    if reg["Mirrors"]:
        text += " Registry Mirrors:\n" + "".join(f"  {m}\n" for m in reg["Mirrors"])
    sys.stdout.write("Server:\n" + text)
