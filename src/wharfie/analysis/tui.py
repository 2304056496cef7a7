"""``wharfie image analyze --interactive``: dive's two-pane browser in the terminal.

Layers on the left (index, size, the step that made it); the highlighted layer's tree diff
on the right, each path marked added (+), modified (~) or removed (-). Textual is imported
only here, and this module only when ``--interactive`` is asked for, so the listing
commands stay light.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Tree

from wharfie.analysis.analyze import Analysis, LayerReport
from wharfie.imagefs import Change

MARKS = {"added": "+", "modified": "~", "removed": "-"}
COLORS = {"added": "green", "modified": "yellow", "removed": "red"}


class AnalyzeApp(App):
    """Browse ``analysis`` layer by layer; ``size_text`` renders a byte count."""

    TITLE = "wharfie image analyze"
    CSS = """
    #layers { width: 45%; }
    #diff { width: 55%; border-left: solid $accent; }
    """
    BINDINGS = [Binding("q", "quit", "Quit"),
                Binding("j", "move(1)", "Next layer", show=False),
                Binding("k", "move(-1)", "Previous layer", show=False)]

    def __init__(self, analysis: Analysis, size_text: Callable[[int], str]) -> None:
        super().__init__()
        self.analysis, self.size_text = analysis, size_text

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="layers", cursor_type="row", zebra_stripes=True)
            yield Tree("/", id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = (f"{self.analysis.image}  efficiency "
                          f"{self.analysis.efficiency * 100:.2f} %  wasted "
                          f"{self.size_text(self.analysis.wasted_bytes)}")
        table = self.query_one("#layers", DataTable)
        table.add_columns("Layer", "Size", "Command")
        for layer in self.analysis.layers:
            table.add_row(str(layer.index), self.size_text(layer.size),
                          _one_line(layer.command))
        table.focus()
        if self.analysis.layers:
            self.show(self.analysis.layers[0])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show(self.analysis.layers[event.cursor_row])

    def action_move(self, step: int) -> None:
        table = self.query_one("#layers", DataTable)
        table.move_cursor(row=max(0, min(table.cursor_row + step, table.row_count - 1)))

    def show(self, layer: LayerReport) -> None:
        """Draw ``layer``'s changes as a tree, every directory open."""
        counts = layer.counts()
        tree = self.query_one("#diff", Tree)
        tree.clear()
        tree.root.set_label(f"layer {layer.index}: +{counts['added']} ~{counts['modified']} "
                            f"-{counts['removed']}")
        for change in layer.changes:
            _place(tree.root, change, self.size_text)
        tree.root.expand_all()


def _place(root, change: Change, size_text: Callable[[int], str]) -> None:
    """Add ``change`` under ``root``, making the directories on its path as needed."""
    *dirs, name = change.path.strip("/").split("/")
    node = root
    for part in dirs:
        node = next((c for c in node.children if c.data == part), None) or \
            node.add(Text(part + "/"), data=part)
    label = Text(f"{MARKS[change.action]} {name}{'/' if change.kind == 'dir' else ''}  "
                 f"{size_text(change.size)}", style=COLORS[change.action])
    existing = next((c for c in node.children if c.data == name), None)
    if existing is not None:  # a directory listed after its contents
        existing.set_label(label)
    elif change.kind == "dir":
        node.add(label, data=name)
    else:
        node.add_leaf(label, data=name)


def _one_line(command: str) -> str:
    return " ".join(command.split())


def browse(analysis: Analysis, size_text: Callable[[int], str]) -> None:
    """Run the browser until the user quits."""
    AnalyzeApp(analysis, size_text).run()
