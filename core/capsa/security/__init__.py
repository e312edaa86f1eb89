"""Security defaults of the bundle, as data the core owns and any isolation driver reads.

``caps``: capability names and podman's add/drop rules; ``seccomp``: the default profile (data
in ``seccomp_default``) and the one resolver of its includes/excludes into OCI ``linux.seccomp``;
``devices``: the device nodes and cgroup device rules every container gets. Pure Python: no
ctypes, nothing a plugin provides.
"""
