#!/usr/bin/env python3
"""Check the layering of mq's C files against the table in src/README.md.

    python3 scripts/check_layers.py [SRC_DIR]

Reads the "Layers" table of SRC_DIR/README.md (rows "| N | `a.c`, `b.c` |
concern |"), then the symbols of the built objects SRC_DIR/*.o (nm), and
fails (exit 1) with one line per defect when:

- a file calls (references a symbol defined in) a file of its own or a
  higher layer: every file calls only files in lower layers;
- a .c file is missing from the table, or named twice, or the table names
  one that does not exist;
- a function or variable is extern but used only in its own file (it
  should be static); SQL-callable functions (those with a
  PG_FUNCTION_INFO_V1 record), _PG_init and background worker entry
  points (declared PGDLLEXPORT) are used by PostgreSQL and exempt;
- a .c file is longer than MAX_FILE_LINES lines, or a function longer than
  MAX_FUNCTION_LINES.

Build first (make).  Prints "ok - ..." or "not ok - ..." lines for the test
command's count.
"""

import glob
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 900
MAX_FUNCTION_LINES = 120


def layer_table(readme):
    """{file.c: layer} from the Layers table of src/README.md."""
    layers = {}
    problems = []
    in_table = False
    with open(readme, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                in_table = line.strip() == "## Layers"
                continue
            m = re.match(r"^\|\s*(\d+)\s*\|([^|]*)\|", line)
            if not in_table or not m:
                continue
            for name in re.findall(r"`([A-Za-z0-9_]+\.c)`", m.group(2)):
                if name in layers:
                    problems.append(f"{name} is in the layer table twice")
                layers[name] = int(m.group(1))
    return layers, problems


def symbols(obj):
    """(defined, undefined) external symbols of one object file."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRCG":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
    return defined, undefined


def used_by_postgres(src_dir):
    """Symbols PostgreSQL looks up by name: SQL functions, _PG_init, workers."""
    names = {"_PG_init", "Pg_magic_func"}
    for path in glob.glob(os.path.join(src_dir, "*.c")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        names.update(re.findall(r"PG_FUNCTION_INFO_V1\((\w+)\)", text))
        names.update("pg_finfo_" + n
                     for n in re.findall(r"PG_FUNCTION_INFO_V1\((\w+)\)", text))
        # background worker entry points are looked up by name
        names.update(re.findall(r"PGDLLEXPORT\s+\w+\s+(\w+)\(", text))
    return names


def long_functions(path):
    """(name, lines) of the functions of one file longer than the limit."""
    found = []
    name, start = None, 0
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            m = re.match(r"^([A-Za-z_]\w*)\(", line)
            if m:
                name, start = m.group(1), no
            elif line.startswith("}") and name:
                if no - start > MAX_FUNCTION_LINES:
                    found.append((name, no - start))
                name = None
    return found


def main():
    src_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src")
    layers, problems = layer_table(os.path.join(src_dir, "README.md"))
    sources = {os.path.basename(p) for p in glob.glob(os.path.join(src_dir, "*.c"))}
    problems += [f"{s} is not in the layer table of src/README.md"
                 for s in sorted(sources - set(layers))]
    problems += [f"the layer table names {s}, which does not exist"
                 for s in sorted(set(layers) - sources)]

    defined_in, uses = {}, {}
    for source in sorted(sources):
        obj = os.path.join(src_dir, source[:-2] + ".o")
        if not os.path.exists(obj):
            problems.append(f"{obj} is not built (run make first)")
            continue
        defined, undefined = symbols(obj)
        for sym in defined:
            defined_in[sym] = source
        uses[source] = undefined

    called = set()
    for caller, undefined in sorted(uses.items()):
        for sym in sorted(undefined):
            callee = defined_in.get(sym)
            if callee is None or callee == caller:
                continue
            called.add(sym)
            if caller in layers and callee in layers and layers[callee] >= layers[caller]:
                problems.append(f"{caller} (layer {layers[caller]}) calls {sym} of "
                                f"{callee} (layer {layers[callee]}): a file calls only "
                                "files in lower layers")

    exempt = used_by_postgres(src_dir)
    for sym, source in sorted(defined_in.items()):
        if sym not in called and sym not in exempt:
            problems.append(f"{sym} is extern but used only in {source}: make it static")

    for source in sorted(sources):
        path = os.path.join(src_dir, source)
        with open(path, encoding="utf-8") as f:
            n = sum(1 for _ in f)
        if n > MAX_FILE_LINES:
            problems.append(f"{source} has {n} lines (at most {MAX_FILE_LINES})")
        for name, lines in long_functions(path):
            problems.append(f"{source}: {name}() has {lines} lines "
                            f"(at most {MAX_FUNCTION_LINES})")

    for p in problems:
        print("  " + p)
    if problems:
        print(f"not ok - layers, static functions and sizes of src/*.c "
              f"({len(problems)} problems)")
        return 1
    print(f"ok - layers, static functions and sizes of src/*.c "
          f"({len(sources)} files in {len(set(layers.values()))} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
