"""Parity of ``run``/``create``'s resource, device, namespace and security flags with podman 4.3:
each case reads what the flag set from inside the container (its cgroup files under
/sys/fs/cgroup/<controller>, /proc, its namespaces), or checks podman's error and exit code.

The host's cgroups: v1 controllers under /sys/fs/cgroup/<controller>, cgroup2 (no controllers)
at /sys/fs/cgroup/unified; the blkio controller has throttling but no weight (no CFQ/BFQ).
"""
from __future__ import annotations

import os

from parity import Case, parity_fixtures

CG = "/sys/fs/cgroup"
BLOCK = next((f"/dev/{d}" for d in sorted(os.listdir("/sys/block")) if os.path.exists(f"/dev/{d}")
              and not d.startswith(("loop", "zram", "ram"))), "/dev/vda")
BLOCK_NUMBERS = f"{os.major(os.stat(BLOCK).st_rdev)}:{os.minor(os.stat(BLOCK).st_rdev)}" if os.path.exists(BLOCK) else "0:0"
HOST_IPC = os.readlink("/proc/self/ns/ipc")
HOST_UTS_NAME = os.uname().nodename


def run(flags: str, command: str) -> str:
    return f"run --rm {flags} {{image}} {command}"


CASES = [
    # -- cpu
    Case("cpu-period-quota", run("--cpu-period 50000 --cpu-quota 25000", f"cat {CG}/cpu/cpu.cfs_period_us {CG}/cpu/cpu.cfs_quota_us"),
         stdout=r"\A50000\n25000\n\Z"),
    Case("cpu-period-range", run("--cpu-period 100", "true"), code=125,
         stderr=r"^Error: CPU cfs period cannot be less than 1ms \(i\.e\. 1000\) or larger than 1s"),
    Case("cpu-quota-range", run("--cpu-quota 500", "true"), code=125,
         stderr=r"^Error: CPU cfs quota cannot be less than 1ms \(i\.e\. 1000\)"),
    Case("cpu-period-and-cpus", run("--cpus 1 --cpu-period 100000", "true"), code=125,
         stderr=r"^Error: --cpu-period and --cpus cannot be set together"),
    Case("cpu-rt-period", run("--cpu-rt-period 900000", f"cat {CG}/cpu/cpu.rt_period_us"), stdout=r"\A900000\n\Z"),
    Case("cpu-rt-runtime", run("--cpu-rt-period 1000000 --cpu-rt-runtime 950", f"cat {CG}/cpu/cpu.rt_runtime_us"),
         stdout=r"\A950\n\Z",
         podman_skip="podman's parent cgroup (libpod_parent) has no real-time budget here: crun fails with EINVAL "
                     "(exit 126); capsa's containers live under capsa's own cgroup, which has one"),
    Case("cpuset-cpus-mems", run("--cpuset-cpus 0 --cpuset-mems 0", f"cat {CG}/cpuset/cpuset.cpus {CG}/cpuset/cpuset.mems"),
         stdout=r"\A0\n0\n\Z"),
    Case("cpuset-cpus-invalid", run("--cpuset-cpus abc", "true"), code=125,
         stderr=r"^Error: invalid value abc for cpuset cpus"),
    # -- memory
    Case("memory-reservation", run("--memory-reservation 32m", f"cat {CG}/memory/memory.soft_limit_in_bytes"),
         stdout=r"\A33554432\n\Z"),
    Case("memory-swappiness", run("--memory-swappiness 10", f"cat {CG}/memory/memory.swappiness"), stdout=r"\A10\n\Z"),
    Case("memory-swappiness-range", run("--memory-swappiness 200", "true"), code=125,
         stderr=r"^Error: invalid value: 200, valid memory swappiness range is 0-100"),
    Case("memory-zero-unlimited", run("--memory 0", f"cat {CG}/memory/memory.limit_in_bytes"), stdout=r"\A9223372036854\d+\n\Z"),
    Case("kernel-memory-warning", run("--kernel-memory 10m", "true"),
         stderr=r'level=warning msg="The --kernel-memory flag is no longer supported\. This flag is a noop\."'),
    Case("oom-kill-disable", run("--oom-kill-disable", f"cat {CG}/memory/memory.oom_control"),
         stdout=r"^oom_kill_disable 1$"),
    Case("oom-score-adj", run("--oom-score-adj 100", "cat /proc/self/oom_score_adj"), stdout=r"\A100\n\Z"),
    Case("oom-score-adj-range", run("--oom-score-adj 2000", "true"), code=125,
         stderr=r"^Error: oom_score_adj 2000 is not in the range \[-1000, 1000\]",
         podman_skip="podman passes it to crun, which fails at start (exit 126); capsa checks it before anything is made"),
    Case("shm-size", run("--shm-size 10m", "df -k /dev/shm"), stdout=r"^shm\s+10240\s"),
    # -- block IO
    Case("device-read-bps", run(f"--device-read-bps {BLOCK}:1mb", f"cat {CG}/blkio/blkio.throttle.read_bps_device"),
         stdout=rf"\A{BLOCK_NUMBERS} 1048576\n\Z"),
    Case("device-write-bps", run(f"--device-write-bps {BLOCK}:2mb", f"cat {CG}/blkio/blkio.throttle.write_bps_device"),
         stdout=rf"\A{BLOCK_NUMBERS} 2097152\n\Z"),
    Case("device-read-iops", run(f"--device-read-iops {BLOCK}:100", f"cat {CG}/blkio/blkio.throttle.read_iops_device"),
         stdout=rf"\A{BLOCK_NUMBERS} 100\n\Z"),
    Case("device-write-iops", run(f"--device-write-iops {BLOCK}:200", f"cat {CG}/blkio/blkio.throttle.write_iops_device"),
         stdout=rf"\A{BLOCK_NUMBERS} 200\n\Z"),
    Case("device-read-bps-missing", run("--device-read-bps /dev/nosuch:1mb", "true"), code=125,
         stderr=r"^Error: .*/dev/nosuch: no such file or directory"),
    Case("blkio-weight-discarded", run("--blkio-weight 300", "true"),
         stderr=r"^Your kernel does not support Block I/O weight or the cgroup is not mounted\. Weight discarded\."),
    Case("blkio-weight-device", run(f"--blkio-weight-device {BLOCK}:300", "true"), code=125,
         stderr=r"^Error: .*blkio.weight_device",
         podman_skip="podman creates the container and crun fails at start (exit 127: open blkio.weight_device); "
                     "capsa refuses before anything is made"),
    # -- devices
    Case("device-cgroup-rule", run("--device-cgroup-rule 'c 42:* rmw'", f"cat {CG}/devices/devices.list"),
         stdout=r"^c 42:\* rwm$"),
    Case("device-cgroup-rule-invalid", run("--device-cgroup-rule bogus", "true"), code=125,
         stderr=r'^Error: invalid device cgroup rule requires type, major:Minor, and access rules: "bogus"'),
    Case("device-host-perms", run("--device /dev/null:/dev/mynull:r", "sh -c 'ls -l /dev/mynull; cat /dev/mynull'"),
         stdout=r"^crw.* 1,\s+3 .*/dev/mynull$"),
    Case("device-host-perms-only", run("--device /dev/fuse:r", "sh -c 'ls -l /dev/fuse; echo x > /dev/fuse'"),
         code=1, stdout=r"^crw.* 10,\s+229 .*/dev/fuse$", stderr=r"Operation not permitted"),
    Case("device-host-only", run("--device /dev/fuse", "ls /dev/fuse"), stdout=r"^/dev/fuse$"),
    Case("device-host-container", run("--device /dev/zero:/dev/zz", "ls /dev/zz"), stdout=r"^/dev/zz$"),
    Case("device-missing", run("--device /dev/nosuch", "true"), code=125, stderr=r"^Error: .*/dev/nosuch: no such file or directory"),
    # -- sysctl
    Case("sysctl-ipc", run("--sysctl kernel.shmmax=1000000", "cat /proc/sys/kernel/shmmax"), stdout=r"\A1000000\n\Z"),
    Case("sysctl-net", run("--sysctl net.ipv4.ip_forward=1", "cat /proc/sys/net/ipv4/ip_forward"), stdout=r"\A1\n\Z"),
    Case("sysctl-not-allowed", run("--sysctl kernel.foo=1", "true"), code=125, stderr=r"^Error: sysctl 'kernel\.foo' is not allowed"),
    Case("sysctl-net-host", run("--network host --sysctl net.ipv4.ip_forward=1", "true"), code=125,
         stderr=r"^Error: sysctl net\.ipv4\.ip_forward=1 can't be set since Network Namespace set to host"),
    Case("sysctl-ipc-host", run("--ipc host --sysctl kernel.shmmax=1000", "true"), code=125,
         stderr=r"^Error: sysctl kernel\.shmmax=1000 can't be set since IPC Namespace set to host",
         podman_skip="podman checks this for net.* sysctls only: crun refuses it at start (exit 126); capsa "
                     "refuses before anything is made, with podman's words for net.*"),
    # -- namespaces
    Case("pid-host", run("--pid host", "sh -c 'echo $$'"), stdout=r"\A(?!1\n)\d+\n\Z"),
    Case("pid-private", run("--pid private", "sh -c 'echo $$'"), stdout=r"\A1\n\Z"),
    Case("pid-container", run("--pid container:{cid}", "sh -c 'ps -o comm | grep -c sleep'"),
         setup=("run -d {image} sleep 300",), stdout=r"\A1\n\Z"),
    Case("pid-container-unknown", run("--pid container:nosuch", "true"), code=125,
         stderr=r'^Error: looking up container to share pid namespace with: no container with name or ID "nosuch" found'),
    Case("pid-bogus", run("--pid bogus", "true"), code=125, stderr=r"^Error: unrecognized namespace mode bogus passed"),
    Case("pid-ns-path", run("--pid ns:/proc/self/ns/pid", "sh -c 'echo $$'"), stdout=r"\A(?!1\n)\d+\n\Z"),
    Case("ipc-host", run("--ipc host", "readlink /proc/self/ns/ipc"), stdout=rf"\A{HOST_IPC.replace('[', '.').replace(']', '.')}\n\Z"),
    Case("ipc-none", run("--ipc none", "ls /dev/shm"), code=1, stderr=r"/dev/shm: No such file or directory"),
    Case("ipc-private", run("--ipc private", "sh -c 'readlink /proc/self/ns/ipc; df -k /dev/shm'"), stdout=r"^shm\s"),
    Case("ipc-shareable", run("--ipc shareable", "true")),
    Case("ipc-container", run("--ipc container:{cid}", "readlink /proc/self/ns/ipc"),
         setup=("run -d {image} sleep 300",), stdout=r"\Aipc:\[\d+\]\n\Z",
         check=lambda r: r.stdout.strip() != HOST_IPC or (_ for _ in ()).throw(AssertionError("the host's ipc"))),
    Case("ipc-ns-missing", run("--ipc ns:/nonexist", "true"), code=125,
         stderr=r"^Error: cannot find specified IPC namespace path: stat /nonexist: no such file or directory"),
    Case("uts-host", run("--uts host", "hostname"), stdout=rf"\A{HOST_UTS_NAME}\n\Z"),
    Case("uts-host-hostname", run("--uts host --hostname x", "true"), code=125,
         stderr=r"^Error: invalid config provided: cannot set hostname when running in the host UTS namespace"),
    Case("uts-private", run("--uts private --hostname inner", "hostname"), stdout=r"\Ainner\n\Z"),
    Case("cgroupns-private", run("--cgroupns private", "grep -c :/$ /proc/self/cgroup"), stdout=r"\A([5-9]|1\d)\n\Z"),
    Case("cgroupns-host", run("--cgroupns host", "sh -c 'grep -c :/$ /proc/self/cgroup; true'"), stdout=r"\A[0-2]\n\Z"),
    Case("cgroupns-bogus", run("--cgroupns bogus", "true"), code=125, stderr=r"^Error: unrecognized namespace mode bogus passed"),
    Case("cgroups-enabled", run("--cgroups enabled", "true")),
    Case("cgroups-no-conmon", run("--cgroups no-conmon", "true")),
    Case("cgroups-bogus", run("--cgroups bogus", "true"), code=125, stderr=r'^Error: .*invalid cgroup mode "bogus": invalid argument'),
    Case("cgroup-conf-bad", run("--cgroup-conf bogus", "true"), code=125,
         stderr=r"^Error: --cgroup-conf must be formatted KEY=VALUE"),
    Case("cgroup-conf-v1-host", run("--cgroup-conf memory.high=50000000", "true"), code=125,
         stderr=r"^Error: cannot use --cgroup-conf without cgroup v2"),
    # -- image mounts
    Case("mount-image", run("--mount type=image,source={image},target=/img", "sh -c 'ls /img/bin/busybox; touch /img/x'"),
         code=1, stdout=r"\A/img/bin/busybox\n\Z", stderr=r"Read-only file system"),
    Case("mount-image-layers", run("--mount type=image,source=layered,target=/img", "sh -c 'cat /img/layer2; ls /img/bin/busybox'"),
         setup=("run --name base {image} sh -c 'echo two > /layer2'", "commit -q base layered"), stdout=r"\Atwo\n/img/bin/busybox\n\Z"),
    Case("mount-image-unknown", run("--mount type=image,source=nosuch,target=/img", "true"), code=126,
         stderr=r'^Error: creating image volume "nosuch":"/img": nosuch: image not known'),
    # -- inspect, create
    Case("inspect-host-config",
         "inspect {cid} --format '{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpusetMems}} "
         "{{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.OomScoreAdj}} "
         "{{.HostConfig.ShmSize}} {{.HostConfig.PidMode}} {{json .HostConfig.GroupAdd}} "
         "{{json .HostConfig.BlkioDeviceReadBps}}'",
         setup=(f"create --cpu-period 50000 --cpu-quota 20000 --cpuset-mems 0 --memory-reservation 16m --oom-score-adj 7 "
                f"--shm-size 1m --pid host --group-add wheel --memory-swappiness 5 --device-read-bps {BLOCK}:1mb "
                "{image} true",),
         stdout=rf'\A50000 20000 0 16777216 5 7 1048576 host \["wheel"\] \[\{{"Path":"{BLOCK}","Rate":1048576\}}\]\n\Z'),
    Case("inspect-default-modes", "inspect {cid} --format '{{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}} {{.HostConfig.PidMode}}'",
         setup=("create {image} true",), stdout=r"\Ashareable private private\n\Z"),
    Case("inspect-host-modes", "inspect {cid} --format '{{.HostConfig.UTSMode}} {{.HostConfig.PidMode}}'",
         setup=("create --uts host --pid host {image} true",), stdout=r"\Ahost host\n\Z"),
    Case("create-then-start", "start -a {cid}",
         setup=(f"create --cpu-quota 30000 --memory-reservation 8m {{image}} cat {CG}/cpu/cpu.cfs_quota_us "
                f"{CG}/memory/memory.soft_limit_in_bytes",), stdout=r"\A30000\n8388608\n\Z"),
    Case("shm-size-ipc-host", run("--shm-size 1m --ipc host", "true"), code=125,
         stderr=r"^Error: invalid config provided: cannot set shmsize when running in the \{host \} IPC Namespace"),
    # -- groups
    Case("group-add-name", run("--group-add wheel", "id -G"), stdout=r"\b10\b"),
    Case("group-add-gid", run("--group-add 4242", "id -G"), stdout=r"\b4242\b"),
    # -- security options
    Case("no-new-privileges-true", run("--security-opt no-new-privileges:true", "grep NoNewPrivs /proc/self/status"),
         stdout=r"NoNewPrivs:\s+1"),
    Case("no-new-privileges-false", run("--security-opt no-new-privileges:false", "grep NoNewPrivs /proc/self/status"),
         stdout=r"NoNewPrivs:\s+0"),
    Case("no-new-privileges", run("--security-opt no-new-privileges", "grep NoNewPrivs /proc/self/status"),
         stdout=r"NoNewPrivs:\s+1"),
    Case("label-disable", run("--security-opt label=disable", "true")),
    Case("apparmor-unconfined", run("--security-opt apparmor=unconfined", "true")),
    Case("seccomp-unconfined", run("--security-opt seccomp=unconfined", "grep Seccomp: /proc/self/status"),
         stdout=r"Seccomp:\s+0"),
    Case("mask-path", run("--security-opt mask=/etc/hostname", "cat /etc/hostname"), stdout=r"\A\Z"),
    Case("masked-by-default", run("", "sh -c 'head -c 5 /proc/timer_list | wc -c'"), stdout=r"\A0\n\Z"),
    Case("unmask-path", run("--security-opt unmask=/proc/timer_list", "sh -c 'head -c 5 /proc/timer_list | wc -c'"),
         stdout=r"\A5\n\Z"),
    Case("unmask-all", run("--security-opt unmask=ALL", "sh -c 'head -c 5 /proc/timer_list | wc -c; grep \" /proc/sys \" /proc/self/mounts | grep -c \" ro,\"; true'"),
         stdout=r"\A5\n0\n\Z"),
    Case("proc-opts", run("--security-opt proc-opts=hidepid=2", "grep ' /proc proc' /proc/self/mounts"), stdout=r"hidepid=(2|invisible)"),
]

store, podman_store, test_parity = parity_fixtures("runres", CASES)
