"""Stdlib-only probe, run *inside* the audited interpreter (CPython 3.9 - 3.15).

It prints one JSON document on stdout describing the interpreter (version, build flags,
extension suffixes, paths, marker environment) and every installed distribution found on
its sys.path (name, version, dist-info path, Requires-Dist, the shared-object files and
top-level names its RECORD lists, INSTALLER, top_level.txt). It never imports an audited
package, and it runs under -S so that no .pth `import` line or sitecustomize of the audited
environment runs either: the path entries .pth files add are read from them instead.
Distributions are read straight from their `*.dist-info` / `*.egg-info` folders, so a broken
one yields an error entry for that distribution only.

The same reader (`read_distributions`) is used by the parent for `ft-audit env --path DIR`,
which is why this file keeps to the 3.9 stdlib: no `from __future__` tricks beyond
annotations, no match statements, no third-party imports.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import sysconfig

PROBE_VERSION = 1


def _config_var(name):
    try:
        return sysconfig.get_config_var(name)
    except Exception:  # a broken sysconfig must not end the probe
        return None


def marker_environment():
    """PEP 508 marker variables, computed exactly as packaging.markers.default_environment()."""
    impl = sys.implementation
    info = impl.version
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _stdlib_dirs():
    dirs = set()
    for key in ("stdlib", "platstdlib"):
        try:
            dirs.add(os.path.normpath(sysconfig.get_path(key)))
        except Exception:
            pass
    return sorted(dirs)


def _site_module():
    """The `site` module, set up as site.main() would (venv prefixes on 3.9/3.10, whether the user
    site is enabled) but without running it: the probe starts with -S, because site.main()
    executes the `import` lines of every .pth file and sitecustomize, which is code from the
    audited environment."""
    import site

    if sys.flags.no_site:
        _enter_venv(site)
        if site.ENABLE_USER_SITE is None:
            site.ENABLE_USER_SITE = site.check_enableusersite()
    return site


def _enter_venv(site):
    """What site.venv() does, without its addsitepackages() call (which runs .pth files): find
    pyvenv.cfg beside the executable or one folder up, move sys.prefix there and set the
    prefixes whose site-packages count."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    venv_prefix = os.path.dirname(exe_dir)
    for conf in (os.path.join(exe_dir, "pyvenv.cfg"), os.path.join(venv_prefix, "pyvenv.cfg")):
        if not os.path.isfile(conf):
            continue
        system_site = "true"
        try:
            for line in _read_text(conf).splitlines():
                key, sep, value = line.partition("=")
                if sep and key.strip().lower() == "include-system-site-packages":
                    system_site = value.strip().lower()
        except OSError:
            pass
        sys.prefix = sys.exec_prefix = venv_prefix
        if system_site == "true":
            site.PREFIXES.insert(0, venv_prefix)
        else:
            site.PREFIXES = [venv_prefix]
            site.ENABLE_USER_SITE = False
        return


def site_path_entries(site_dirs):
    """What site.addsitedir() would put on sys.path for these folders, read from their .pth
    files without executing anything: (path entries, the `import` lines that were not run)."""
    entries, not_run = [], []
    for sitedir in site_dirs:
        if not os.path.isdir(sitedir):
            continue
        entries.append(sitedir)
        try:
            names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth") and not n.startswith("."))
        except OSError:
            continue
        for name in names:
            try:
                lines = _read_text(os.path.join(sitedir, name)).splitlines()
            except OSError:
                continue
            for line in lines:
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith(("import ", "import\t")):
                    not_run.append(name + ": " + line.strip()[:200])
                    continue
                entry = os.path.normpath(os.path.join(sitedir, line.rstrip()))
                if os.path.isdir(entry) and entry not in entries:
                    entries.append(entry)
    return entries, not_run


def _site_dirs():
    dirs = []
    try:
        site = _site_module()
        dirs.extend(site.getsitepackages())
        if getattr(site, "ENABLE_USER_SITE", False):
            dirs.append(site.getusersitepackages())
    except Exception:
        pass
    for key in ("purelib", "platlib"):
        try:
            # sysconfig took sys.prefix when it was imported, before site.venv() moved it.
            dirs.append(sysconfig.get_path(key, vars={"base": sys.prefix, "platbase": sys.exec_prefix}))
        except Exception:
            pass
    seen = []
    for d in dirs:
        d = os.path.normpath(d)
        if d not in seen:
            seen.append(d)
    return seen


def environment_dirs(path_entries, stdlib_dirs):
    """sys.path entries that can hold installed distributions: existing directories that are
    not the standard library (lib-dynload included) and not the current directory."""
    out = []
    stdlib = [os.path.normpath(d) for d in stdlib_dirs]
    for entry in path_entries:
        if not entry or entry == ".":
            continue
        norm = os.path.normpath(entry)
        if not os.path.isdir(norm) or norm in out:
            continue
        inside_stdlib = any(norm == s or norm.startswith(s + os.sep) for s in stdlib)
        if inside_stdlib and "site-packages" not in norm and "dist-packages" not in norm:
            continue
        out.append(norm)
    return out


def interpreter_facts():
    from importlib import machinery

    # First: under -S, site.venv() moves sys.prefix to the venv, and sysconfig caches the
    # prefix on its first use.
    site_dirs = _site_dirs()
    gil_disabled = _config_var("Py_GIL_DISABLED")
    path = [p for p in sys.path if p not in ("", os.getcwd())]
    pth_not_run = []
    if sys.flags.no_site:             # started with -S: add what site would, without running it
        site_entries, pth_not_run = site_path_entries(site_dirs)
        path += [p for p in site_entries if p not in path]
    stdlib = _stdlib_dirs()
    return {
        "executable": sys.executable,
        "version": list(sys.version_info[:3]) + [sys.version_info.releaselevel, sys.version_info.serial],
        "version_string": sys.version,
        "implementation": sys.implementation.name,
        "cache_tag": sys.implementation.cache_tag,
        "abiflags": getattr(sys, "abiflags", ""),
        "py_gil_disabled": bool(gil_disabled) if gil_disabled is not None else False,
        "ext_suffix": _config_var("EXT_SUFFIX"),
        "soabi": _config_var("SOABI"),
        "multiarch": _config_var("MULTIARCH"),
        "extension_suffixes": list(machinery.EXTENSION_SUFFIXES),
        "platform": sysconfig.get_platform(),
        "sys_platform": sys.platform,
        "machine": platform.machine(),
        "pointer_bits": 64 if sys.maxsize > 2 ** 32 else 32,
        "byteorder": sys.byteorder,
        "libc": list(platform.libc_ver()) if sys.platform.startswith("linux") else None,
        "glibc": _glibc_version(),
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "exec_prefix": sys.exec_prefix,
        "sys_path": path,
        "stdlib_dirs": stdlib,
        "site_dirs": site_dirs,
        "pth_import_lines_not_run": pth_not_run,
        "environment_dirs": environment_dirs(path, stdlib),
        "markers": marker_environment(),
        "subinterpreter_module": _subinterpreter_module(),
    }


def _glibc_version():
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        return None
    if not value:
        return None
    parts = value.split()
    return parts[1] if len(parts) == 2 else None


def _subinterpreter_module():
    """Which stdlib module can create own-GIL sub-interpreters here (checked without importing)."""
    from importlib.util import find_spec

    for name in ("concurrent.interpreters", "_interpreters", "_xxsubinterpreters"):
        try:
            if find_spec(name) is not None:
                return name
        except Exception:
            continue
    return None


# -- distributions ---------------------------------------------------------------------------

def _read_text(path):
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def _read_headers(path):
    """The header block of METADATA / PKG-INFO (up to the first blank line): the body holds
    the long description, which can be large and is never needed."""
    chunks = []
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(16384)
            if not chunk:
                break
            chunks.append(chunk)
            if b"\n\n" in chunk or b"\r\n\r\n" in chunk:
                break
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    end = text.find("\n\n")
    return text if end < 0 else text[:end]


def _parse_metadata(text):
    """RFC 822 style headers (core metadata), continuation lines folded. The email package
    would parse the whole long description too, several times slower for no gain."""
    headers: dict[str, list[str]] = {}
    key = None
    for line in text.split("\n"):
        if not line:
            continue
        if line[0] in " \t" and key is not None:
            headers[key][-1] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"not a header line: {line[:60]!r}")
        key = name.strip().lower()
        headers.setdefault(key, []).append(value.strip())

    def first(name):
        values = headers.get(name.lower())
        return values[0] if values else None

    return {
        "name": first("Name"),
        "version": first("Version"),
        "requires_dist": list(headers.get("requires-dist", [])),
        "requires_python": first("Requires-Python"),
        "classifiers": [v for v in headers.get("classifier", []) if "Free Threading" in v],
    }


def _is_extension_candidate(path):
    return path.endswith((".so", ".pyd")) or ".so." in path


def _parse_record(text):
    """(extension-candidate paths, top-level names, row count) from a RECORD file.

    Only what ownership needs crosses the process boundary: the shared-object files and the
    top-level names. A line without quotes is split directly; quoted ones go through csv."""
    files = []
    tops = []
    rows = 0
    for line in text.splitlines():
        if not line:
            continue
        if '"' in line:
            import csv  # here: the module is imported on every `env` start, quoted paths are rare

            parsed = next(csv.reader([line]), None)
            path = parsed[0] if parsed else ""
        else:
            path = line.split(",", 1)[0]
        if not path:
            continue
        rows += 1
        if _is_extension_candidate(path):
            files.append(path)
        top = path.split("/", 1)[0]
        if top not in tops:
            tops.append(top)
    return files, tops, rows


def _name_version_from_dirname(dirname):
    stem = dirname.rsplit(".", 1)[0]
    if "-" in stem:
        name, version = stem.split("-", 1)
        return name, version.split("-", 1)[0]
    return stem, None


def read_distribution(location, dirname):
    """One distribution from `location/dirname` (a .dist-info or .egg-info folder or file)."""
    meta_dir = os.path.join(location, dirname)
    guessed_name, guessed_version = _name_version_from_dirname(dirname)
    dist = {
        "name": None, "version": None, "location": location, "metadata_dir": meta_dir,
        "kind": "dist-info" if dirname.endswith(".dist-info") else "egg-info",
        "requires_dist": [], "requires_python": None, "classifiers": [],
        "record": None, "record_top_level": None, "record_rows": 0,
        "installer": None, "top_level": None, "errors": [],
    }
    is_dir = os.path.isdir(meta_dir)
    meta_file = "METADATA" if dist["kind"] == "dist-info" else "PKG-INFO"
    meta_path = os.path.join(meta_dir, meta_file) if is_dir else meta_dir
    try:
        dist.update(_parse_metadata(_read_headers(meta_path)))
    except OSError as exc:
        dist["errors"].append(f"{meta_dir}: cannot read {meta_file} ({exc.strerror or exc})")
    except Exception as exc:
        dist["errors"].append(f"{meta_dir}: bad {meta_file} ({exc})")
    if not dist.get("name"):
        dist["name"] = guessed_name
        if not dist["errors"]:
            dist["errors"].append(f"{meta_dir}: {meta_file} has no Name")
    if not dist.get("version"):
        dist["version"] = guessed_version
    if is_dir:
        record_name = "RECORD" if dist["kind"] == "dist-info" else "installed-files.txt"
        record_path = os.path.join(meta_dir, record_name)
        if os.path.exists(record_path):
            try:
                text = _read_text(record_path)
                if dist["kind"] != "dist-info":  # egg-info lists paths relative to the egg-info folder
                    text = "\n".join(os.path.normpath(os.path.join(dirname, line.strip())).replace(os.sep, "/")
                                     for line in text.splitlines() if line.strip())
                dist["record"], dist["record_top_level"], dist["record_rows"] = _parse_record(text)
            except OSError as exc:
                dist["errors"].append(f"{meta_dir}: cannot read {record_name} ({exc.strerror or exc})")
            except Exception as exc:
                dist["errors"].append(f"{meta_dir}: bad {record_name} ({exc})")
        elif dist["kind"] == "dist-info":
            dist["errors"].append(f"{meta_dir}: no RECORD file")
        for fname, key in (("INSTALLER", "installer"), ("top_level.txt", "top_level")):
            fpath = os.path.join(meta_dir, fname)
            if os.path.exists(fpath):
                try:
                    text = _read_text(fpath)
                except OSError:
                    continue
                dist[key] = text.strip() if key == "installer" else [line.strip() for line in text.splitlines() if line.strip()]
    return dist


def read_distributions(directories):
    """Every distribution whose metadata lives directly in one of `directories` (in order;
    the first of two same-named distributions is the one the import system sees)."""
    out = []
    for location in directories:
        try:
            names = sorted(os.listdir(location))
        except OSError:
            continue
        for dirname in names:
            if dirname.endswith(".dist-info") or dirname.endswith(".egg-info"):
                out.append(read_distribution(location, dirname))
    return out


def main():
    facts = interpreter_facts()
    document = {
        "probe_version": PROBE_VERSION,
        "interpreter": facts,
        "distributions": read_distributions(facts["environment_dirs"]),
    }
    out = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    sys.stdout.write(out)
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
