#!/usr/bin/env python3
"""Run a notebook the way JupyterLab's and Notebook's "Run All" do: every code cell sent to the kernel at once.

Usage:
    python3 tests/support/nb_run_all.py NOTEBOOK --out OUTPUTS.json [--cwd DIR] [--timeout 120]

A cell-by-cell executor (nbconvert, nbclient, ``nb_execute.py``) stops at the first error, which hides how a
kernel behaves after one: Deno 2.9.6's kernel does not drop the execute requests queued behind a failing cell, so
those cells still run. This script sends all requests before reading any reply, waits for every reply, and writes
``[{"source": ..., "status": "ok"|"error", "outputs": [...]}]`` (one entry per code cell, outputs as nbformat
outputs), so a test can check that the cells below a failing one print nothing.

Needs Debian's ``jupyter-client`` (``/usr/bin/python3``; re-executes itself with it when the ``python3`` first on
PATH lacks it).
"""

import argparse
import json
import os
import sys
import time

try:
    from jupyter_client.manager import start_new_kernel
except ImportError:  # pragma: no cover - depends on the machine
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) and os.path.exists(system_python):
        os.execv(system_python, [system_python, *sys.argv])
    print("nb_run_all: jupyter_client not installed; apt-get install -y jupyter-client", file=sys.stderr)
    sys.exit(2)

from queue import Empty

OUTPUT_TYPES = ("stream", "display_data", "update_display_data", "execute_result", "error")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook")
    parser.add_argument("--out", required=True)
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    with open(args.notebook, encoding="utf-8") as f:
        nb = json.load(f)
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in nb["cells"] if c["cell_type"] == "code"]
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name", "deno")
    cwd = args.cwd or os.path.dirname(os.path.abspath(args.notebook))
    km, kc = start_new_kernel(kernel_name=kernel, cwd=cwd)
    try:
        # As JupyterLab's Run All: every request queued before the first reply, each asking to stop on error.
        ids = [kc.execute(src, stop_on_error=True) for src in sources]
        outputs = {i: [] for i in ids}
        status = {}
        deadline = time.time() + args.timeout
        quiet_since = None
        while time.time() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=0.05)
                parent = msg["parent_header"].get("msg_id")
                if parent in outputs and msg["msg_type"] in OUTPUT_TYPES:
                    content = dict(msg["content"])
                    content["output_type"] = msg["msg_type"]
                    outputs[parent].append(content)
                quiet_since = None
            except Empty:
                pass
            try:
                while True:
                    reply = kc.get_shell_msg(timeout=0.001)
                    status[reply["parent_header"]["msg_id"]] = reply["content"]["status"]
            except Empty:
                pass
            if len(status) == len(ids):
                # Outputs may trail the last reply (the same race nb_execute.py drains): wait for quiet.
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since > 0.5:
                    break
        result = [{"source": src, "status": status.get(i, "no reply"), "outputs": outputs[i]}
                  for src, i in zip(sources, ids)]
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        return 0 if len(status) == len(ids) else 1
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    sys.exit(main())
