#!/usr/bin/env python3
"""Execute a Jupyter notebook headlessly without losing outputs.

Usage:
    python3 tests/support/nb_execute.py NOTEBOOK --out EXECUTED.ipynb [--html OUT.html] [--timeout 300]

Why not plain ``jupyter nbconvert --execute``: Deno 2.9.6's kernel can publish the
``status: idle`` message for a cell before all of that cell's outputs are sent on IOPub.
nbclient stops reading a cell's outputs at ``idle``, so late outputs are discarded (they
arrive while the next cell is being read and carry the previous cell's parent id). Measured:
outputs dropped in 9 of 20 runs. This executor keeps reading IOPub until it has been quiet
for ``--quiet`` seconds (0.1 s default) after each cell's idle, and routes any output that
still arrives late to the cell it belongs to (by parent message id) instead of dropping it.

The notebook runs in its own folder (notebooks import ``../lib/...``). A cell that throws
exits 1 (after writing the partially executed notebook, which helps debugging); a cell that
runs past ``--timeout`` seconds is interrupted and also exits 1.

Needs Debian's ``jupyter-client jupyter-nbconvert`` (nbclient, nbformat, nbconvert). When the
``python3`` first on PATH lacks them (e.g. a pyenv interpreter) this script re-executes itself
with ``/usr/bin/python3``.
"""

import argparse
import asyncio
import os
import sys
import time

INSTALL_HINT = (
    "apt-get install -y --no-install-recommends jupyter-client jupyter-nbconvert"
    " && deno jupyter --install --force"
)

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete, CellExecutionError, CellTimeoutError, DeadKernelError
    from nbclient.util import ensure_async
except ImportError:  # pragma: no cover - depends on the machine
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) and os.path.exists(system_python):
        # Debian installs nbclient for the system interpreter only; pyenv's python3 shadows it on PATH.
        os.execv(system_python, [system_python, *sys.argv])
    print(f"nb_execute: nbclient/nbformat not installed; install with: {INSTALL_HINT}", file=sys.stderr)
    sys.exit(2)

from queue import Empty


class DrainingNotebookClient(NotebookClient):
    """A NotebookClient that waits for IOPub to go quiet after each cell's idle status.

    ``quiet_s`` is how long IOPub must stay silent before a cell's outputs count as complete.
    Late messages whose parent is an earlier cell are appended to that earlier cell.
    """

    def __init__(self, nb, km=None, quiet_s: float = 0.1, **kw):
        super().__init__(nb, km=km, **kw)
        self.quiet_s = quiet_s
        # parent msg_id -> (cell, cell_index) of every cell executed so far.
        self._cells_by_msg_id = {}
        self.late_outputs = 0

    def _route(self, msg, parent_msg_id, cell, cell_index):
        """Process one IOPub message; returns True when it was this cell's idle status."""
        parent = msg.get("parent_header", {}).get("msg_id")
        if parent == parent_msg_id:
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                return True
            return False
        earlier = self._cells_by_msg_id.get(parent)
        if earlier is not None:
            earlier_cell, earlier_index = earlier
            if msg["msg_type"] != "status":
                self.late_outputs += 1
                self.log.warning("late output (%s) for cell %d routed back to it", msg["msg_type"], earlier_index)
            try:
                self.process_message(msg, earlier_cell, earlier_index)
            except CellExecutionComplete:
                pass
        return False

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        assert self.kc is not None
        self._cells_by_msg_id[parent_msg_id] = (cell, cell_index)
        # Phase 1, as nbclient: read until this cell's idle status.
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if self._route(msg, parent_msg_id, cell, cell_index):
                break
        # Phase 2: the Deno kernel may still be sending this cell's outputs; read until quiet.
        while True:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=self.quiet_s))
            except Empty:
                return
            self._route(msg, parent_msg_id, cell, cell_index)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Execute a notebook headlessly, keeping every output.")
    parser.add_argument("notebook", help="the .ipynb to execute (runs in its own folder)")
    parser.add_argument("--out", required=True, help="where to write the executed .ipynb")
    parser.add_argument("--html", help="also export the executed notebook to this HTML file")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    parser.add_argument("--quiet", type=float, default=0.1, help="seconds of IOPub silence that end a cell (0.1)")
    parser.add_argument("--kernel", help="kernel name (default: the notebook's kernelspec, else deno)")
    parser.add_argument("--cwd", help="folder to run in (default: the notebook's folder)")
    return parser.parse_args(argv)


def export_html(nb, path):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)


def main(argv):
    args = parse_args(argv)
    nb_path = os.path.abspath(args.notebook)
    nb = nbformat.read(nb_path, as_version=4)
    kernel = args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "deno"
    cwd = os.path.abspath(args.cwd) if args.cwd else os.path.dirname(nb_path)
    client = DrainingNotebookClient(
        nb,
        quiet_s=args.quiet,
        timeout=args.timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": cwd}},
        # The kernel's first start (deno compiling) can be slow on a small CI machine.
        startup_timeout=120,
    )
    started = time.monotonic()
    status = 0
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        status = 1
        print(f"nb_execute: {os.path.basename(nb_path)} failed:\n{error}", file=sys.stderr)
    except Exception as error:  # kernel missing, cannot start, ...
        status = 1
        message = str(error)
        if "No such kernel" in message or "NoSuchKernel" in type(error).__name__:
            message += f"\ninstall Jupyter and the Deno kernel with: {INSTALL_HINT}"
        print(f"nb_execute: {os.path.basename(nb_path)}: {type(error).__name__}: {message}", file=sys.stderr)
    out_path = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    nbformat.write(nb, out_path)
    if args.html:
        export_html(nb, os.path.abspath(args.html))
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(
        f"nb_execute: {os.path.basename(nb_path)}: {code_cells} code cells, "
        f"{'ok' if status == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s"
        f"{f', {client.late_outputs} late outputs recovered' if client.late_outputs else ''}"
        f" -> {out_path}",
        file=sys.stderr,
    )
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
