"""The scenarios, one module each, and the registry that finds them. Every module here whose name does not start
with '_' must define exactly one subclass of ternbench.scenario.Scenario; it is registered under its name. Adding
a scenario is adding its module (and its guest script in bench/guests/, if it boots one): nothing else names it.

The registry checks what each scenario declares (check()) and refuses to start with a message naming the module
when something is wrong: a scenario the harness could not run correctly is no scenario."""

import functools
import importlib.util
import pkgutil
import re
import sys

from ..scenario import NATIVE, TEST_HOST, Guest, Options, Scenario


class ScenarioError(Exception):
    """A scenario module that cannot be registered; the message names the module and what is wrong."""


def check(s):
    """What is wrong with what scenario S declares (empty: nothing)."""
    problems = []
    if not isinstance(s.name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", s.name):
        return ["name %r: lower-case letters, digits and '-'" % (s.name,)]
    if not s.description:
        problems.append("no description")
    if s.runs_in not in (TEST_HOST, NATIVE):
        problems.append("runs_in %r: %s or %s" % (s.runs_in, TEST_HOST, NATIVE))
    if s.guest is not None and not isinstance(s.guest, Guest):
        problems.append("guest is not a Guest")
    if not isinstance(s.figures, dict) or not s.figures:
        problems.append("no figures")
    else:
        for f, fd in s.figures.items():
            for k in ("unit", "label", "what"):
                if not isinstance(fd.get(k), str) or not fd[k]:
                    problems.append("figure %s: no %s" % (f, k))
            if fd.get("better") not in ("lower", "higher"):
                problems.append("figure %s: better %r, want lower or higher" % (f, fd.get("better")))
    if s.subject in s.peers or s.subject in s.known_peers:
        problems.append("the subject %s is among its peers" % s.subject)
    unknown = [p for p in s.peers if p not in s.known_peers]
    if unknown:
        problems.append("default peers not in known_peers: %s" % ", ".join(unknown))
    if not isinstance(s.unpaired, (tuple, list)) or not set(s.unpaired) <= set(s.known_peers):
        problems.append("unpaired %r: want a list of known peers" % (s.unpaired,))
    if not all(isinstance(o, Options) for o in s.options):
        problems.append("options: want Options groups")
    for method in ("setup", "run"):
        if getattr(type(s), method) is getattr(Scenario, method):
            problems.append("no %s()" % method)
    return problems


def discover(path=None, package=None):
    """{name: scenario instance} of the modules in PATH (default: this package's directory), imported as
    PACKAGE.<module> (default: this package), in `list` order (order, then name). Raises ScenarioError."""
    path = path if path is not None else __path__
    package = package or __name__
    found = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        modname = "%s.%s" % (package, info.name)
        mod = sys.modules.get(modname)
        if mod is None:
            spec = info.module_finder.find_spec(modname)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            try:
                spec.loader.exec_module(mod)
            except Exception as e:
                del sys.modules[modname]
                raise ScenarioError("%s: cannot import: %s: %s" % (spec.origin, type(e).__name__, e)) from e
        where = getattr(mod, "__file__", modname)
        classes = [c for c in vars(mod).values()
                   if isinstance(c, type) and issubclass(c, Scenario) and c.__module__ == modname]
        if len(classes) != 1:
            raise ScenarioError("%s: want one Scenario subclass, found %d%s" % (
                where, len(classes), " (a helper module's name starts with '_')" if not classes else ""))
        s = classes[0]()
        problems = check(s)
        if problems:
            raise ScenarioError("%s: scenario %s: %s" % (where, s.name, "; ".join(problems)))
        found.append((s, where))
    names = {}
    for s, where in found:
        if s.name in names:
            raise ScenarioError("%s: scenario %s is also in %s" % (where, s.name, names[s.name]))
        names[s.name] = where
    return {s.name: s for s, _ in sorted(found, key=lambda f: (f[0].order, f[0].name))}


@functools.lru_cache(maxsize=None)
def registry():
    """Every scenario of this package, {name: instance} in `list` order (found once)."""
    return discover()


def get(name):
    """The scenario NAME; KeyError if there is none."""
    return registry()[name]
