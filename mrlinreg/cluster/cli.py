"""``python -m mrlinreg.cluster up|down|status|env|render``."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from mrlinreg.cluster import config
from mrlinreg.cluster.paths import ClusterPaths, resolve


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _selected(with_history: bool):
    from mrlinreg.cluster.services import SERVICES
    return [s for s in SERVICES if with_history or not s.optional]


def _fail(paths: ClusterPaths, service: str, reason: str, show_log: bool = True,
          started_any: bool = True) -> int:
    log = paths.log_file(service)
    print(f"\nFAILED: {service}: {reason}", file=sys.stderr)
    if show_log:
        print(f"--- last lines of {log} ---\n{_tail(log)}\n---", file=sys.stderr)
    if started_any:
        print(f"Services already started keep running (logs in {paths.logs}); stop them "
              f"with `python -m mrlinreg.cluster down --home {paths.home}`.", file=sys.stderr)
    return 1


def cmd_up(args) -> int:
    from mrlinreg.cluster import fetch, launcher, probes, process
    from mrlinreg.cluster.services import Runtime

    paths = resolve(args.home)
    t0 = time.monotonic()
    try:
        java_home = fetch.ensure_java()
        libs = fetch.fetch_all(paths.cache, java_home)
    except (fetch.FetchError, OSError) as exc:
        print(f"FAILED: fetching the services: {exc}", file=sys.stderr)
        return 1
    print(f"fetch: {time.monotonic() - t0:6.1f}s  (cache {paths.cache})")

    for directory in (paths.data, paths.logs, paths.run):
        directory.mkdir(parents=True, exist_ok=True)
    try:
        config.render(config.local_values(paths, libs["hadoop"]), paths.conf)
    except config.TemplateError as exc:
        print(f"FAILED: rendering conf/: {exc}", file=sys.stderr)
        return 1
    launcher.write_hadoop_home(paths, java_home, libs["hadoop"])
    launcher.write_mrjob_conf(paths)
    if importlib.util.find_spec("mrjob") is None:
        print(f"warning: {sys.executable} has no mrjob; streaming tasks run with this "
              "interpreter (python_bin in mrjob.conf): run `up` from the project's venv",
              file=sys.stderr)
    paths.env_file.write_text(json.dumps({"java_home": str(java_home)}) + "\n")

    runtime = Runtime(paths=paths, java_home=java_home, libs=libs)
    marker = runtime.marker()
    wanted = _selected(args.with_history)
    launched: dict[str, float] = {}   # name -> when it was started (or found running)
    ready: dict[str, str] = {}        # name -> what to print
    preexisting = set()
    for service in wanted:
        if process.running_pid(paths.pid_file(service.name), marker):
            launched[service.name] = time.monotonic()
            preexisting.add(service.name)

    while len(ready) < len(wanted):
        tick = time.monotonic()
        for service in wanted:
            if service.name in launched or not all(r in ready for r in service.requires):
                continue
            if probes.port_open(service.port):
                return _fail(paths, service.name,
                             f"port {service.port} is taken by a process this cluster did "
                             "not start; stop it first", show_log=False,
                             started_any=bool(launched))
            try:
                if service.prepare:
                    service.prepare(runtime)
                env = service.env(runtime) if service.env else runtime.env()
                process.launch(service.command(runtime), paths.log_file(service.name),
                               paths.pid_file(service.name), env, service.cwd(runtime))
            except Exception as exc:
                return _fail(paths, service.name, f"could not start: {exc}")
            launched[service.name] = time.monotonic()
        for service in wanted:
            if service.name not in launched or service.name in ready:
                continue
            elapsed = time.monotonic() - launched[service.name]
            try:
                service.probe()
            except probes.NotReady as exc:
                if not process.alive(process.read_pid(paths.pid_file(service.name))):
                    return _fail(paths, service.name, f"process exited ({exc})")
                if elapsed > service.timeout:
                    return _fail(paths, service.name,
                                 f"no answer after {service.timeout:.0f}s: {exc}")
                continue
            ready[service.name] = ("already running" if service.name in preexisting
                                   else f"ready after {elapsed:6.1f}s")
            print(f"  {service.name:<20} {ready[service.name]}", flush=True)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

    rss = sum(process.rss_kib(process.read_pid(paths.pid_file(s.name)) or 0) for s in wanted)
    print(f"cluster up in {time.monotonic() - t0:.1f}s (services' RSS {rss / 1024:.0f} MiB)")
    print(f"mrjob config: {paths.mrjob_conf}")
    print(f"hadoop:       {paths.hadoop_bin}")
    print(f'environment:  eval "$({sys.executable} -m mrlinreg.cluster env'
          f' --home {paths.home})"')
    return 0


def cmd_down(args) -> int:
    from mrlinreg.cluster import process
    from mrlinreg.cluster.services import SERVICES

    paths = resolve(args.home)
    marker = f"-Dmrlinreg.cluster.home={paths.home}"
    # Clients first, storage last: HBase flushes into HDFS, HiveServer2 and Thrift hold
    # sessions, the metastore holds Derby (shut down by its JVM's exit hook).
    tiers = [("hiveserver2", "hbase-thrift"), ("metastore", "hbase-regionserver"),
             ("hbase-master",),
             ("historyserver", "nodemanager", "resourcemanager"), ("datanode",),
             ("namenode", "zookeeper")]
    assert {n for tier in tiers for n in tier} == {s.name for s in SERVICES}
    for tier in tiers:
        pids = {}
        for name in tier:
            pid = process.running_pid(paths.pid_file(name), marker)
            if pid:
                pids[name] = pid
        t0 = time.monotonic()
        killed = process.stop_all(pids.values(), timeout=args.timeout)
        for name, pid in pids.items():
            how = "killed (SIGKILL)" if pid in killed else "stopped"
            print(f"  {name:<20} {how} in {time.monotonic() - t0:.1f}s")
        for name in tier:
            paths.pid_file(name).unlink(missing_ok=True)
    strays = process.strays(paths.home)
    if strays:
        print(f"  stopping {len(strays)} leftover process(es): {strays}")
        process.kill_strays(strays)
    remaining = process.strays(paths.home)
    if remaining:
        print(f"FAILED: processes still running: {remaining}", file=sys.stderr)
        return 1
    print("cluster down")
    return 0


def cmd_status(args) -> int:
    from mrlinreg.cluster import probes, process

    paths = resolve(args.home)
    marker = f"-Dmrlinreg.cluster.home={paths.home}"
    answering = 0
    wanted = _selected(True)
    for service in wanted:
        pid = process.running_pid(paths.pid_file(service.name), marker)
        try:
            service.probe()
            state = "answers"
            answering += 1
        except probes.NotReady as exc:
            state = f"not answering ({exc})" if pid else "stopped"
        rss = f"{process.rss_kib(pid) / 1024:5.0f} MiB" if pid else "        -"
        print(f"  {service.name:<20} pid {pid or '-':<8} {rss}  :{service.port:<6} {state}")
    required = [s for s in wanted if not s.optional]
    return 0 if answering >= len(required) else 3


def cmd_env(args) -> int:
    from mrlinreg.cluster import launcher

    paths = resolve(args.home)
    java_home = None
    if paths.env_file.exists():
        java_home = Path(json.loads(paths.env_file.read_text())["java_home"])
    print("\n".join(launcher.export_lines(paths, java_home)))
    return 0


def cmd_render(args) -> int:
    if args.profile == "docker":
        values = config.docker_values()
    else:
        from mrlinreg.cluster import fetch
        paths = resolve(args.home)
        values = config.local_values(paths, fetch.maven_lib_dir(paths.cache, "hadoop"))
    for path in config.render(values, Path(args.out)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mrlinreg.cluster",
                                     description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    home_help = "cluster home (default $MRLINREG_CLUSTER_HOME or ~/.local/share/mrlinreg-cluster)"
    up = sub.add_parser("up", help="fetch, configure and start every service; wait until they answer")
    up.add_argument("--home", help=home_help)
    up.add_argument("--with-history", action="store_true",
                    help="also start the MapReduce JobHistory server")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop every service (SIGTERM, then SIGKILL)")
    down.add_argument("--home", help=home_help)
    down.add_argument("--timeout", type=float, default=30.0,
                      help="seconds to wait after SIGTERM before SIGKILL (default 30)")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="list services and whether they answer")
    status.add_argument("--home", help=home_help)
    status.set_defaults(func=cmd_status)
    env = sub.add_parser("env", help="print export lines for eval")
    env.add_argument("--home", help=home_help)
    env.set_defaults(func=cmd_env)
    render = sub.add_parser("render", help="render conf/ templates into a directory")
    render.add_argument("--profile", choices=("local", "docker"), default="local")
    render.add_argument("--out", required=True)
    render.add_argument("--home", help=home_help)
    render.set_defaults(func=cmd_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
